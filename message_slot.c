// SPDX-License-Identifier: GPL-2.0
/*
 * message_slot - message slots and NP-Heap memory objects on char major 235.
 *
 * Message slots (minors 0 .. MSG_SLOT_MINORS - 1): every slot holds many
 * channels; a channel keeps its last message (1..MSG_SLOT_MAX_LEN bytes)
 * until it is overwritten or the module is unloaded.  Readers copy a
 * message under RCU and a seqcount, without taking any lock, and always see
 * a whole message: a write either overwrites a buffer of the same size class
 * inside a seqcount write section or publishes a new buffer and frees the
 * old one, never written again, after a grace period.
 *
 * NP-Heap (minors NPHEAP_MINOR_BASE ..): kernel-held objects of zeroed,
 * refcounted pages that processes mmap by id, plus per-id locks that
 * processes take and release through ioctls.  Every mapping holds a
 * reference on its object, so neither delete nor growth ever leaves a
 * process mapping freed memory.
 *
 * Both halves bound the memory users can pin through a memory budget.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cdev.h>
#include <linux/compat.h>
#include <linux/cred.h>
#include <linux/debugfs.h>
#include <linux/device.h>
#include <linux/fs.h>
#include <linux/kref.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/pid.h>
#include <linux/poll.h>
#include <linux/random.h>
#include <linux/rcupdate.h>
#include <linux/refcount.h>
#include <linux/sched.h>
#include <linux/sched/signal.h>
#include <linux/seq_file.h>
#include <linux/siphash.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/uaccess.h>
#include <linux/version.h>
#include <linux/wait.h>
#include <linux/xarray.h>

#include "message_slot.h"

/* ------------------------------------------------------------------------
 * Shared helpers
 */

/* A lock-free byte counter checked against a limit the admin may change. */
struct mem_budget {
	atomic_long_t used;
	const unsigned long *limit;
};

/* Add @bytes to @used unless that takes it past @limit (a refund always works). */
static bool counter_charge(atomic_long_t *used, long bytes, unsigned long limit)
{
	long now = atomic_long_add_return(bytes, used);

	if (bytes > 0 && (unsigned long)now > limit) {
		atomic_long_sub(bytes, used);
		return false;
	}
	return true;
}

static bool budget_charge(struct mem_budget *budget, long bytes)
{
	return counter_charge(&budget->used, bytes, READ_ONCE(*budget->limit));
}

static void budget_uncharge(struct mem_budget *budget, long bytes)
{
	atomic_long_sub(bytes, &budget->used);
}

/* Read-only parameters showing what a budget holds, for admins and tests. */
static int budget_used_get(char *buffer, const struct kernel_param *kp)
{
	const struct mem_budget *budget = kp->arg;

	return sysfs_emit(buffer, "%ld\n", atomic_long_read(&budget->used));
}

static const struct kernel_param_ops budget_used_ops = {
	.get = budget_used_get,
};

/*
 * DOC: Per-user shares
 *
 * As POSIX message queues charge RLIMIT_MSGQUEUE to a user, what one user
 * makes the module hold is also counted against that user's share of the
 * module-wide bound, so that one user reaching its share leaves the rest to
 * everybody else: message memory (max_msg_bytes_per_user) and NP-Heap lock
 * entries (npheap_max_locks_per_user).  The user is the caller's real uid;
 * callers with CAP_SYS_RESOURCE are counted but not held to a share (as
 * with pipe buffers).  One entry per uid that ever used the module, kept
 * until unload: unprivileged callers cannot make up uids.
 */
struct user_share {
	kuid_t uid;
	atomic_long_t msg_bytes;
	atomic_t npheap_locks;
};

/* uid -> struct user_share; entries are only added, until unload. */
static DEFINE_XARRAY_FLAGS(user_shares, XA_FLAGS_ACCOUNT);

/* The caller's share, made on first use; NULL when that allocation fails. */
static struct user_share *user_share_get(gfp_t gfp)
{
	kuid_t uid = current_uid();
	struct user_share *share, *prev;

	share = xa_load(&user_shares, __kuid_val(uid));
	if (share)
		return share;
	share = kzalloc(sizeof(*share), gfp | __GFP_ACCOUNT);
	if (!share)
		return NULL;
	share->uid = uid;
	prev = xa_cmpxchg(&user_shares, __kuid_val(uid), NULL, share, gfp);
	if (prev) {
		kfree(share);
		return xa_is_err(prev) ? NULL : prev;
	}
	return share;
}

/* Exempt from shares?  Asked only once a share would be exceeded. */
static bool user_share_exempt(void)
{
	return capable(CAP_SYS_RESOURCE);
}

static void user_shares_destroy(void)
{
	struct user_share *share;
	unsigned long uid;

	xa_for_each(&user_shares, uid, share)
		kfree(share);
	xa_destroy(&user_shares);
}

/* "uid msg_bytes npheap_locks" per user, for admins and tests. */
static int user_shares_show(struct seq_file *m, void *unused)
{
	struct user_share *share;
	unsigned long uid;

	seq_puts(m, "uid msg_bytes npheap_locks\n");
	xa_for_each(&user_shares, uid, share)
		seq_printf(m, "%lu %ld %d\n", uid,
			   atomic_long_read(&share->msg_bytes),
			   atomic_read(&share->npheap_locks));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(user_shares);

static struct dentry *debugfs_dir;

/*
 * xarray index nodes are charged to the budgets as well: an unprivileged
 * user choosing sparse ids makes the kernel allocate up to one 576-byte
 * node per index level for each entry, far more than the entries cost.
 */
#define MSGSLOT_INDEX_NODE_BYTES	sizeof(struct xa_node)

/* ------------------------------------------------------------------------
 * Message slots
 */

static unsigned long max_msg_bytes = 256UL << 20;
module_param(max_msg_bytes, ulong, 0644);
MODULE_PARM_DESC(max_msg_bytes,
		 "Bound on memory held by all messages, in bytes (default 256 MiB)");

static unsigned long max_msg_bytes_per_user = 64UL << 20;
module_param(max_msg_bytes_per_user, ulong, 0644);
MODULE_PARM_DESC(max_msg_bytes_per_user,
		 "Share of max_msg_bytes one user (real uid) may hold; CAP_SYS_RESOURCE is exempt (default 64 MiB)");

static unsigned long msg_gen_step = 1;
module_param(msg_gen_step, ulong, 0644);
MODULE_PARM_DESC(msg_gen_step,
		 "Test hook: a write advances its channel's generation by this (1..2^32, default 1)");

static unsigned int max_channels = 1U << 20;
module_param(max_channels, uint, 0644);
MODULE_PARM_DESC(max_channels,
		 "Bound on distinct channels per slot (default 1048576)");

static unsigned int censor_period = 3;
module_param(censor_period, uint, 0444);
MODULE_PARM_DESC(censor_period,
		 "Censored writes replace every Nth byte with '#' (1..128, default 3)");

static struct mem_budget msg_budget = { .limit = &max_msg_bytes };
module_param_cb(msg_bytes_used, &budget_used_ops, &msg_budget, 0444);
MODULE_PARM_DESC(msg_bytes_used, "Bytes charged to max_msg_bytes now");

/*
 * DOC: Locking, message slots
 *
 * Locks, and what each protects:
 *  - msgslots' xa_lock: adding a slot (slots are never removed until unload).
 *  - a slot's channels xa_lock: its writers (publish, in place or by
 *    swapping buffers), @nr_channels, @index_bytes, a message's @owner and
 *    the charges moved with it; the slot's seqcounts are written under it.
 *  - a slot's watches xa_lock: adding and erasing watches.
 *  - a watch's wq.lock: waiting readers and files' forwarding entries.
 *  - a file's @lock: @channel against @seen and @watching/@watched/
 *    @forwarding, so that a channel switch forgets both at once.
 *  - a file's wq.lock: poll tables of that file.
 *  - user_shares' xa_lock: adding a share.  Budgets and shares themselves
 *    are atomic counters (both halves).
 *
 * Nesting, outermost first: file @lock -> watch wq.lock (msgslot_watch_pin()
 * queues the forwarding entry) -> file wq.lock (msgslot_watch_wake() runs
 * under the watch's wq.lock).  The channels xa_lock nests in nothing and
 * takes no other lock of this module (under it: budget atomics and the
 * xarray's own non-sleeping node allocation); a writer wakes watchers only
 * after dropping it.  No lock is held across a sleep or a user copy.
 *
 * Lockless: readers copy a message under RCU and the channel's seqcount
 * (msgslot_copy()), retrying on an overlapping in-place write; a writer
 * finds its channel's watch under RCU (msgslot_notify()), and a reader its
 * file's cached watch (refcount_inc_not_zero()); @channel, @seen, @censor,
 * @wait, @watched and @forwarding are read with READ_ONCE.  What orders a
 * lockless look against a writer: a watcher queues itself, then looks
 * under the channels xa_lock the writer released before it looked for
 * watchers, so one of the two sees the other.
 */

/* Smallest root shift under which @index fits. */
static unsigned int msgslot_index_shift(unsigned long index)
{
	unsigned int shift = 0;

	while (shift < BITS_PER_LONG - XA_CHUNK_SHIFT &&
	       (index >> shift) >= XA_CHUNK_SIZE)
		shift += XA_CHUNK_SHIFT;
	return shift;
}

/*
 * Nodes that storing a new entry at @index into @xa (under its lock) makes the
 * xarray allocate: the levels the tree grows at the top (each a new node
 * whose slot 0 holds the old tree) plus every missing node on @index's path
 * below the deepest one that exists.  This follows lib/xarray.c's
 * xas_expand() and xas_create().
 */
static unsigned long msgslot_index_nodes_to_insert(struct xarray *xa, unsigned long index)
{
	void *entry = xa_head_locked(xa);
	unsigned int shift = msgslot_index_shift(index);
	struct xa_node *node;

	lockdep_assert_held(&xa->xa_lock);
	if (!entry)		/* index 0 lives in the head itself */
		return index ? shift / XA_CHUNK_SHIFT + 1 : 0;
	if (!xa_is_node(entry))	/* a lone entry at index 0 gets a chain */
		return 2 * (shift / XA_CHUNK_SHIFT) + 1;

	node = xa_to_node(entry);
	if (node->shift < shift)
		return (shift - node->shift) / XA_CHUNK_SHIFT +
		       shift / XA_CHUNK_SHIFT;
	while (node->shift) {
		entry = xa_entry_locked(xa, node, (index >> node->shift) &
					XA_CHUNK_MASK);
		if (!xa_is_node(entry))
			break;
		node = xa_to_node(entry);
	}
	return node->shift / XA_CHUNK_SHIFT;
}

/*
 * A channel's message.  A write of the same size class overwrites it in
 * place inside a write section of its slot's seqcount for the channel; any
 * other write publishes a new buffer and frees this one after an RCU grace
 * period.  The header stays at 17 bytes so that 1..15-byte messages fit the
 * 32-byte objects and 128-byte ones the 160-byte objects.
 *
 * @gen counts the channel's writes (1 for the first, never 0) for poll and
 * waiting reads; a new buffer carries it on.  64 bits never wrap, so "read
 * or not" is a plain comparison however many writes come between reads.
 * @owner is the user whose share the buffer is charged to.  Both share
 * their bytes with @rcu, which is only written once the buffer has been
 * replaced: the replacing writer bumps the seqcount before call_rcu(), so
 * a reader that copied a clobbered @gen retries and finds the new buffer.
 */
struct msgslot_msg {
	union {
		struct rcu_head rcu;
		struct {
			u64 gen;
			struct user_share *owner;
		};
	};
	u8 len;
	u8 data[];
};

/* The costs README and the tests state: a 17-byte header on 64-bit. */
static_assert(!IS_ENABLED(CONFIG_64BIT) ||
	      offsetof(struct msgslot_msg, data) == 17);

static u64 msg_next_gen(const struct msgslot_msg *msg)
{
	u64 step = clamp_t(u64, READ_ONCE(msg_gen_step), 1, 1ULL << 32);
	u64 gen = msg ? msg->gen + step : 1;

	return gen ? gen : 1;	/* 0 means "nothing read" in msgslot_file */
}

/*
 * Messages live in caches of 16-byte steps (32..160 bytes) instead of the
 * kmalloc size classes, so a 128-byte message costs 160 bytes, not 192.
 */
#define MSG_OBJ_STEP		16
#define MSG_OBJ_MIN		32
#define MSG_OBJ_SIZE(len)	ALIGN(offsetof(struct msgslot_msg, data) + (len), \
				      MSG_OBJ_STEP)
#define MSG_NR_CACHES		((MSG_OBJ_SIZE(MSG_SLOT_MAX_LEN) - MSG_OBJ_MIN) / \
				 MSG_OBJ_STEP + 1)

static struct kmem_cache *msg_caches[MSG_NR_CACHES];

static_assert(MSG_OBJ_SIZE(1) == MSG_OBJ_MIN);

static unsigned int msg_cache_index(size_t len)
{
	return (MSG_OBJ_SIZE(len) - MSG_OBJ_MIN) / MSG_OBJ_STEP;
}

/* Bytes charged to the budget: the slab object size of the message. */
static long msg_charge(const struct msgslot_msg *msg)
{
	return msg ? MSG_OBJ_SIZE(msg->len) : 0;
}

static struct msgslot_msg *msg_alloc(const u8 *text, size_t len, gfp_t gfp)
{
	struct msgslot_msg *msg;

	msg = kmem_cache_alloc(msg_caches[msg_cache_index(len)], gfp);
	if (msg) {
		msg->len = len;
		memcpy(msg->data, text, len);
	}
	return msg;
}

static void msg_free(struct msgslot_msg *msg)
{
	kmem_cache_free(msg_caches[msg_cache_index(msg->len)], msg);
}

static void msg_free_rcu(struct rcu_head *head)
{
	msg_free(container_of(head, struct msgslot_msg, rcu));
}

/*
 * One slot per minor, created on first open and kept until unload.
 * channels: channel id -> struct msgslot_msg; its xa_lock is held for the
 * few instructions of a publish (an in-place copy of at most 128 bytes, or
 * a budget check + store).  seq[channel % MSGSLOT_SEQS] tells lockless
 * readers that an in-place write overlapped their copy.
 */
#define MSGSLOT_SEQS	32

struct msgslot {
	struct xarray channels;
	unsigned int nr_channels;	/* under the channels xa_lock */
	unsigned long index_bytes;	/* index nodes charged, ditto */
	seqcount_spinlock_t seq[MSGSLOT_SEQS];
	struct xarray watches;		/* channel -> struct msgslot_watch */
};

static seqcount_spinlock_t *msgslot_seq(struct msgslot *slot, u32 channel)
{
	return &slot->seq[channel % MSGSLOT_SEQS];
}

/* minor -> struct msgslot; entries are only added, until unload. */
static DEFINE_XARRAY(msgslots);

/*
 * Change notification.  Each channel that open files poll or wait on has a
 * struct msgslot_watch in its slot's @watches, keyed by channel id: waiting
 * readers sleep on its @wq, and a file that polls queues its forwarding
 * entry (msgslot_file.watch) there, which wakes the file's own @wq, where
 * poll tables sleep.  A write looks its channel up under RCU and wakes @wq
 * only if someone is on it, so it wakes nobody on other channels and,
 * with nobody watching, costs one lookup in an (often empty) xarray.  A
 * watch lives while files hold references (see msgslot_watch_pin()) and
 * is freed after an RCU grace period.
 */
struct msgslot_watch {
	wait_queue_head_t wq;
	refcount_t ref;
	struct rcu_head rcu;
};

/*
 * Per open file: the slot, the channel chosen by ioctl (0: none), the write
 * generation last read on it (0: none), censoring, waiting reads, and the
 * watch of the channel once it polled or waited (@watching, of channel
 * @watched; @forwarding: @watch is queued on it).  @lock and the lockless
 * readers: "Locking, message slots".
 */
struct msgslot_file {
	struct msgslot *slot;
	spinlock_t lock;	/* see "Locking, message slots" */
	u32 channel;
	u32 watched;
	u64 seen;
	bool censor;
	bool wait;
	bool forwarding;
	struct user_share *writer;	/* share of the last writer, a cache */
	struct msgslot_watch *watching;
	struct wait_queue_entry watch;
	wait_queue_head_t wq;
};

static struct msgslot *msgslot_get(unsigned int minor)
{
	struct msgslot *slot, *prev;
	unsigned int i;

	slot = xa_load(&msgslots, minor);
	if (slot)
		return slot;

	slot = kzalloc(sizeof(*slot), GFP_KERNEL_ACCOUNT);
	if (!slot)
		return ERR_PTR(-ENOMEM);
	xa_init_flags(&slot->channels, XA_FLAGS_ACCOUNT);
	xa_init_flags(&slot->watches, XA_FLAGS_ACCOUNT);
	for (i = 0; i < MSGSLOT_SEQS; i++)
		seqcount_spinlock_init(&slot->seq[i], &slot->channels.xa_lock);

	prev = xa_cmpxchg(&msgslots, minor, NULL, slot, GFP_KERNEL);
	if (prev) {
		kfree(slot);
		return xa_is_err(prev) ? ERR_PTR(xa_err(prev)) : prev;
	}
	return slot;
}

static void msgslot_destroy(struct msgslot *slot)
{
	struct msgslot_msg *msg;
	unsigned long channel;

	xa_for_each(&slot->channels, channel, msg) {
		budget_uncharge(&msg_budget, msg_charge(msg));
		msg_free(msg);
	}
	budget_uncharge(&msg_budget, slot->index_bytes);
	xa_destroy(&slot->channels);
	/* No file is open: every watch was put. */
	WARN_ON(!xa_empty(&slot->watches));
	xa_destroy(&slot->watches);
	kfree(slot);
}

/* @channel's watch with a new reference, made if there is none. */
static struct msgslot_watch *msgslot_watch_get(struct msgslot *slot,
					       u32 channel)
{
	struct msgslot_watch *w, *fresh;
	int ret = 0;

	rcu_read_lock();
	w = xa_load(&slot->watches, channel);
	if (w && !refcount_inc_not_zero(&w->ref))
		w = NULL;
	rcu_read_unlock();
	if (w)
		return w;

	fresh = kmalloc(sizeof(*fresh), GFP_KERNEL_ACCOUNT);
	if (!fresh)
		return ERR_PTR(-ENOMEM);
	init_waitqueue_head(&fresh->wq);
	refcount_set(&fresh->ref, 1);
	xa_lock(&slot->watches);
	do {
		/* Under the lock a watch in the array has references. */
		w = xa_load(&slot->watches, channel);
		if (w) {
			refcount_inc(&w->ref);
			break;
		}
		ret = __xa_insert(&slot->watches, channel, fresh, GFP_KERNEL);
	} while (ret == -EBUSY);
	xa_unlock(&slot->watches);
	if (w || ret) {
		kfree(fresh);
		return w ? w : ERR_PTR(ret);
	}
	return fresh;
}

/* Only the last reference takes the lock, under which watches are found. */
static void msgslot_watch_put(struct msgslot *slot, u32 channel,
			      struct msgslot_watch *w)
{
	bool last;

	if (refcount_dec_not_one(&w->ref))
		return;
	xa_lock(&slot->watches);
	last = refcount_dec_and_test(&w->ref);
	if (last)
		__xa_erase(&slot->watches, channel);
	xa_unlock(&slot->watches);
	if (last)
		kfree_rcu(w, rcu);
}

/* The forwarding entry: a write to the watched channel wakes the pollers. */
static int msgslot_watch_wake(struct wait_queue_entry *entry,
			      unsigned int mode, int sync, void *key)
{
	struct msgslot_file *mf = container_of(entry, struct msgslot_file,
					       watch);

	/* No barrier: a poller queues itself on @wq before it looks at the
	 * channel under the xa_lock the write released (msgslot_poll()).
	 */
	if (waitqueue_active(&mf->wq))
		wake_up_interruptible_sync_poll(&mf->wq, EPOLLIN | EPOLLRDNORM);
	return 0;
}

/*
 * Make @mf hold @channel's watch, with its forwarding entry queued there if
 * @forward, and return the watch with a reference for the caller (NULL: a
 * switch made @channel stale).  *@queued is set when this queued anything
 * a writer must see: the caller then looks at the channel under its lock.
 */
static struct msgslot_watch *msgslot_watch_pin(struct msgslot_file *mf,
					       u32 channel, bool forward,
					       bool *queued)
{
	struct msgslot_watch *w = NULL, *fresh = NULL, *old = NULL;
	u32 old_channel = 0;

	/*
	 * Held already: a live watch (references left) is the one in the
	 * array, whatever @mf did with it since (RCU keeps it readable).
	 */
	if (!forward || READ_ONCE(mf->forwarding)) {
		rcu_read_lock();
		if (READ_ONCE(mf->watched) == channel) {
			w = READ_ONCE(mf->watching);
			if (w && !refcount_inc_not_zero(&w->ref))
				w = NULL;
		}
		rcu_read_unlock();
		if (w)
			return w;
	}
	for (;;) {
		spin_lock(&mf->lock);
		if (mf->channel != channel)
			break;
		if (mf->watched != channel && fresh) {
			old = mf->watching;
			old_channel = mf->watched;
			if (old && mf->forwarding)
				remove_wait_queue(&old->wq, &mf->watch);
			WRITE_ONCE(mf->watching, fresh);
			WRITE_ONCE(mf->forwarding, false);
			WRITE_ONCE(mf->watched, channel);
			fresh = NULL;
			*queued = true;
		}
		if (mf->watched == channel) {
			w = mf->watching;
			if (forward && !mf->forwarding) {
				add_wait_queue(&w->wq, &mf->watch);
				WRITE_ONCE(mf->forwarding, true);
				*queued = true;
			}
			refcount_inc(&w->ref);
			break;
		}
		spin_unlock(&mf->lock);
		fresh = msgslot_watch_get(mf->slot, channel);
		if (IS_ERR(fresh))
			return fresh;
	}
	spin_unlock(&mf->lock);
	if (old)
		msgslot_watch_put(mf->slot, old_channel, old);
	if (fresh)
		msgslot_watch_put(mf->slot, channel, fresh);
	return w;
}

/*
 * @mf stops watching its channel: returns the watch, with @mf's reference,
 * for msgslot_watch_release() once @mf->lock is dropped.
 */
static struct msgslot_watch *msgslot_watch_detach(struct msgslot_file *mf)
{
	struct msgslot_watch *w = mf->watching;

	lockdep_assert_held(&mf->lock);
	if (w && mf->forwarding)
		remove_wait_queue(&w->wq, &mf->watch);
	WRITE_ONCE(mf->watched, 0);
	WRITE_ONCE(mf->watching, NULL);
	WRITE_ONCE(mf->forwarding, false);
	return w;
}

/*
 * Wake whoever sleeps on @w (waiting readers of the file that held it, after
 * a switch or SET_WAIT 0; those of other files look again and sleep on),
 * then drop the reference.
 */
static void msgslot_watch_release(struct msgslot *slot, u32 channel,
				  struct msgslot_watch *w)
{
	if (!w)
		return;
	wake_up_interruptible_poll(&w->wq, EPOLLIN | EPOLLRDNORM);
	msgslot_watch_put(slot, channel, w);
}

/*
 * Wake the watchers of @channel, if any, after a write to it (the ordering
 * that makes the lockless looks safe is the same for xa_empty()).  A sync
 * wake-up, as pipes do: the writer returns to user space, which commonly
 * waits for the answer next, so the reader is not run before it.
 */
static void msgslot_notify(struct msgslot *slot, u32 channel)
{
	struct msgslot_watch *w;

	/* The common case: nobody watches any channel of the slot. */
	if (xa_empty(&slot->watches))
		return;
	rcu_read_lock();
	w = xa_load(&slot->watches, channel);
	/* No barrier: a watcher queues itself before it reads the generation
	 * under the xa_lock our write released, so either it sees this write
	 * or we see it queued.
	 */
	if (w && waitqueue_active(&w->wq))
		wake_up_interruptible_sync_poll(&w->wq, EPOLLIN | EPOLLRDNORM);
	rcu_read_unlock();
}

/* @mf->seen without tearing: 64-bit loads are single loads on 64-bit only. */
static u64 msgslot_seen(struct msgslot_file *mf)
{
#if BITS_PER_LONG == 64
	return READ_ONCE(mf->seen);
#else
	u64 seen;

	spin_lock(&mf->lock);
	seen = mf->seen;
	spin_unlock(&mf->lock);
	return seen;
#endif
}

/*
 * Does @channel hold a message @mf has not read?  If so, copy it into
 * @copy when it fits @count, with its length and generation.  Under the
 * xa_lock, which orders it against writers for msgslot_notify().
 */
static bool msgslot_take_unseen(struct msgslot_file *mf, u32 channel,
				u8 *copy, size_t count, size_t *len, u64 *gen)
{
	u64 seen = msgslot_seen(mf);
	struct msgslot_msg *msg;
	bool unseen;

	xa_lock(&mf->slot->channels);
	msg = xa_load(&mf->slot->channels, channel);
	unseen = msg && msg->gen != seen;
	if (unseen) {
		*gen = msg->gen;
		*len = msg->len;
		if (*len <= count)
			memcpy(copy, msg->data, *len);
	}
	xa_unlock(&mf->slot->channels);
	return unseen;
}

static int msgslot_open(struct inode *inode, struct file *file)
{
	struct msgslot_file *mf;
	struct msgslot *slot;

	slot = msgslot_get(iminor(inode));
	if (IS_ERR(slot))
		return PTR_ERR(slot);

	mf = kzalloc(sizeof(*mf), GFP_KERNEL_ACCOUNT);
	if (!mf)
		return -ENOMEM;
	mf->slot = slot;
	spin_lock_init(&mf->lock);
	init_waitqueue_func_entry(&mf->watch, msgslot_watch_wake);
	init_waitqueue_head(&mf->wq);
	file->private_data = mf;
	/*
	 * Reads honour IOCB_NOWAIT, so io_uring tries them inline instead of
	 * waiting for EPOLLIN first: a message already read is returned at
	 * once, as by read(2).
	 */
	file->f_mode |= FMODE_NOWAIT;
	/* Messages have no file position: no lseek/pread, no f_pos lock. */
	return stream_open(inode, file);
}

static int msgslot_release(struct inode *inode, struct file *file)
{
	struct msgslot_file *mf = file->private_data;

	/* Pollers and readers hold a file reference: nobody waits on @wq. */
	if (mf->watching) {
		if (mf->forwarding)
			remove_wait_queue(&mf->watching->wq, &mf->watch);
		msgslot_watch_put(mf->slot, mf->watched, mf->watching);
	}
	kfree(mf);
	return 0;
}

/*
 * Select @channel; another channel than before forgets what was read and
 * the old channel's watch.  Waiting readers of this file wake and look at
 * the new channel, and so do its pollers, which watch it from their next
 * poll (epoll polls again once woken).
 */
static void msgslot_set_channel(struct msgslot_file *mf, u32 channel)
{
	struct msgslot_watch *old = NULL;
	u32 old_channel = 0;
	bool moved = false;

	spin_lock(&mf->lock);
	if (mf->channel != channel) {
		old_channel = mf->watched;
		old = msgslot_watch_detach(mf);
		WRITE_ONCE(mf->channel, channel);
		WRITE_ONCE(mf->seen, 0);
		moved = true;
	}
	spin_unlock(&mf->lock);
	if (moved) {
		msgslot_watch_release(mf->slot, old_channel, old);
		wake_up_interruptible_poll(&mf->wq, EPOLLIN | EPOLLRDNORM);
	}
}

/* Waiting reads off: readers already asleep return as reads without waiting. */
static void msgslot_stop_waiting(struct msgslot_file *mf)
{
	struct msgslot_watch *w;
	u32 channel;

	spin_lock(&mf->lock);
	w = mf->watching;
	channel = mf->watched;
	if (w)
		refcount_inc(&w->ref);
	spin_unlock(&mf->lock);
	msgslot_watch_release(mf->slot, channel, w);
}

/* Remember that generation @gen of @channel was read, never going back. */
static void msgslot_mark_seen(struct msgslot_file *mf, u32 channel, u64 gen)
{
	if (msgslot_seen(mf) == gen)
		return;
	spin_lock(&mf->lock);
	if (mf->channel == channel && gen > mf->seen)
		WRITE_ONCE(mf->seen, gen);
	spin_unlock(&mf->lock);
}

/*
 * Requests are decoded by number: each exists as _IOW(MAJOR_NUM, nr, unsigned
 * int) and, as other course headers declare it, with unsigned long (size 8
 * on 64-bit).  Both carry the argument by value, with the same range checks.
 */
static long msgslot_ioctl(struct file *file, unsigned int cmd,
			  unsigned long arg)
{
	struct msgslot_file *mf = file->private_data;
	u32 value;

	if (_IOC_TYPE(cmd) != MAJOR_NUM || _IOC_DIR(cmd) != _IOC_WRITE)
		return -EINVAL;
	switch (_IOC_SIZE(cmd)) {
	case sizeof(u32):
		/* An int argument leaves the upper register half undefined. */
		value = lower_32_bits(arg);
		break;
	case sizeof(u64):
		if (arg > U32_MAX)
			return -EINVAL;
		value = arg;
		break;
	default:
		return -EINVAL;
	}

	switch (_IOC_NR(cmd)) {
	case _IOC_NR(MSG_SLOT_CHANNEL):
		if (!value)
			return -EINVAL;
		msgslot_set_channel(mf, value);
		return 0;
	case _IOC_NR(MSG_SLOT_SET_CEN):
		if (value > 1)
			return -EINVAL;
		WRITE_ONCE(mf->censor, value);
		return 0;
	case _IOC_NR(MSG_SLOT_SET_WAIT):
		if (value > 1)
			return -EINVAL;
		WRITE_ONCE(mf->wait, value);
		if (!value)
			msgslot_stop_waiting(mf);
		return 0;
	default:
		return -EINVAL;
	}
}

/*
 * Copy @channel's message into @copy when it fits @count; return its length
 * (0: never written) and its generation in @gen.
 */
static size_t msgslot_copy(struct msgslot *slot, u32 channel, u8 *copy,
			   size_t count, u64 *gen)
{
	seqcount_spinlock_t *seq = msgslot_seq(slot, channel);
	const struct msgslot_msg *msg;
	unsigned int start;
	size_t len;

	rcu_read_lock();
	do {
		start = read_seqcount_begin(seq);
		msg = xa_load(&slot->channels, channel);
		len = 0;
		*gen = 0;
		if (msg) {
			*gen = READ_ONCE(msg->gen);
			len = READ_ONCE(msg->len);
			if (len <= count)
				memcpy(copy, msg->data, len);
		}
	} while (read_seqcount_retry(seq, start));
	rcu_read_unlock();
	return len;
}

/* What a waiting read takes: a message copied as by msgslot_take_unseen(). */
struct msgslot_take {
	u8 *copy;
	size_t count, len;
	u64 gen;
	bool found;
};

/*
 * The wait is over: another channel, waiting reads off, or @t->found.
 * @locked: look under the xa_lock, as before sleeping; once woken, a
 * lockless look finds what woke us.
 */
static bool msgslot_wait_over(struct msgslot_file *mf, u32 channel,
			      struct msgslot_take *t, bool locked)
{
	if (READ_ONCE(mf->channel) != channel || !READ_ONCE(mf->wait))
		return true;
	if (locked) {
		t->found = msgslot_take_unseen(mf, channel, t->copy, t->count,
					       &t->len, &t->gen);
	} else {
		t->len = msgslot_copy(mf->slot, channel, t->copy, t->count,
				      &t->gen);
		t->found = t->len && t->gen != msgslot_seen(mf);
	}
	return t->found;
}

/*
 * Sleep on @w until msgslot_wait_over().  As wait_event_interruptible(),
 * less its first look before queueing (the caller just looked), and a
 * woken reader looks before it queues itself again: the wake-up dequeued
 * it, so finding the message then costs no wait-queue lock.
 */
static int msgslot_sleep(struct msgslot_file *mf, struct msgslot_watch *w,
			 u32 channel, struct msgslot_take *t)
{
	DEFINE_WAIT(wait);
	int ret = 0;

	for (;;) {
		prepare_to_wait(&w->wq, &wait, TASK_INTERRUPTIBLE);
		if (msgslot_wait_over(mf, channel, t, true))
			break;
		if (signal_pending(current)) {
			ret = -ERESTARTSYS;
			break;
		}
		schedule();
		if (msgslot_wait_over(mf, channel, t, false))
			break;
	}
	finish_wait(&w->wq, &wait);
	return ret;
}

/*
 * Copy @mf's message into @copy if it fits in @count bytes, after waiting
 * for one this file has not read when waiting reads are on (unless
 * @nonblock).  Returns its length, with its channel and generation for
 * msgslot_mark_seen(), -ENOSPC if it does not fit, or an error.
 */
static ssize_t msgslot_fetch(struct msgslot_file *mf, u8 *copy, size_t count,
			     bool nonblock, u32 *channelp, u64 *gen)
{
	u32 channel = READ_ONCE(mf->channel);
	size_t len;

	if (!channel)
		return -EINVAL;

	for (;;) {
		struct msgslot_take t = { .copy = copy, .count = count };
		struct msgslot_watch *w;
		bool queued = false;
		int ret;

		len = msgslot_copy(mf->slot, channel, copy, count, gen);
		/* Without waiting reads, a read never sleeps (the contract). */
		if (!READ_ONCE(mf->wait) || (len && *gen != msgslot_seen(mf)))
			break;
		if (nonblock)
			return -EAGAIN;
		w = msgslot_watch_pin(mf, channel, false, &queued);
		if (IS_ERR(w))
			return PTR_ERR(w);
		if (w) {
			ret = msgslot_sleep(mf, w, channel, &t);
			msgslot_watch_put(mf->slot, channel, w);
			if (ret)
				return ret;
			if (t.found) {
				len = t.len;
				*gen = t.gen;
				break;
			}
		}
		/* A switch by another thread: wait on the new channel. */
		channel = READ_ONCE(mf->channel);
	}

	if (!len)
		return -EWOULDBLOCK;
	if (len > count)
		return -ENOSPC;
	*channelp = channel;
	return len;
}

static ssize_t msgslot_read(struct file *file, char __user *buf, size_t count,
			    loff_t *ppos)
{
	struct msgslot_file *mf = file->private_data;
	u8 copy[MSG_SLOT_MAX_LEN];
	u32 channel;
	ssize_t len;
	u64 gen;

	len = msgslot_fetch(mf, copy, count, file->f_flags & O_NONBLOCK,
			    &channel, &gen);
	if (len <= 0)
		return len;
	if (copy_to_user(buf, copy, len))
		return -EINVAL;
	msgslot_mark_seen(mf, channel, gen);
	return len;
}

/* readv, preadv2, io_uring: one message, filling the segments in order. */
static ssize_t msgslot_read_iter(struct kiocb *iocb, struct iov_iter *to)
{
	struct msgslot_file *mf = iocb->ki_filp->private_data;
	u8 copy[MSG_SLOT_MAX_LEN];
	u32 channel;
	ssize_t len;
	u64 gen;

	len = msgslot_fetch(mf, copy, iov_iter_count(to),
			    (iocb->ki_filp->f_flags & O_NONBLOCK) ||
			    (iocb->ki_flags & IOCB_NOWAIT), &channel, &gen);
	if (len <= 0)
		return len;
	if (copy_to_iter(copy, len, to) != len)
		return -EINVAL;
	msgslot_mark_seen(mf, channel, gen);
	return len;
}

/*
 * Readable while the channel holds a message this file has not read;
 * writable whenever a channel is set.  Without a channel, reads and writes
 * fail at once (EINVAL), so that is reported as an error, not as a wait.
 */
static __poll_t msgslot_poll(struct file *file, poll_table *pt)
{
	struct msgslot_file *mf = file->private_data;
	u32 channel = READ_ONCE(mf->channel);
	__poll_t mask = EPOLLOUT | EPOLLWRNORM;
	bool queued = !poll_does_not_wait(pt);
	struct msgslot_watch *w;
	size_t len;
	u64 gen;

	poll_wait(file, &mf->wq, pt);
	if (!channel)
		return EPOLLERR;
	if (READ_ONCE(mf->watched) != channel || !READ_ONCE(mf->forwarding)) {
		w = msgslot_watch_pin(mf, channel, true, &queued);
		if (IS_ERR(w))
			return EPOLLERR;
		if (w)
			msgslot_watch_put(mf->slot, channel, w);
	}
	/*
	 * Once queued (epoll's polls after a wake-up queue nothing), writers
	 * wake us: a lockless look is enough.  Else look under the xa_lock,
	 * which orders it against writers for msgslot_notify().
	 */
	if (queued) {
		if (msgslot_take_unseen(mf, channel, NULL, 0, &len, &gen))
			mask |= EPOLLIN | EPOLLRDNORM;
	} else {
		len = msgslot_copy(mf->slot, channel, NULL, 0, &gen);
		if (len && gen != msgslot_seen(mf))
			mask |= EPOLLIN | EPOLLRDNORM;
	}
	return mask;
}

/*
 * Charge storing a buffer of @new_bytes over @old, with @node_bytes of new
 * index nodes: the budget gets the difference; @writer's share gets all of
 * it and @old's owner, if another user, has @old refunded, so a message is
 * always charged to the user who wrote it last.  -EAGAIN: past @writer's
 * share, and *@exempt (-1: not asked yet) must be asked first.  Under
 * @slot's channels xa_lock, which keeps @old's owner.
 */
static int msg_charge_store(struct msgslot *slot, struct user_share *writer,
			    int *exempt, const struct msgslot_msg *old,
			    long new_bytes, long node_bytes)
{
	long old_bytes = msg_charge(old);
	bool mine = old && old->owner == writer;
	long delta = new_bytes - old_bytes + node_bytes;
	long to_writer = new_bytes + node_bytes - (mine ? old_bytes : 0);
	unsigned long share = *exempt > 0 ? ULONG_MAX :
				READ_ONCE(max_msg_bytes_per_user);

	lockdep_assert_held(&slot->channels.xa_lock);
	if (!budget_charge(&msg_budget, delta))
		return -ENOMEM;
	if (!counter_charge(&writer->msg_bytes, to_writer, share)) {
		budget_uncharge(&msg_budget, delta);
		return *exempt < 0 ? -EAGAIN : -ENOMEM;
	}
	if (old && !mine)
		atomic_long_sub(old_bytes, &old->owner->msg_bytes);
	return 0;
}

/*
 * Make @text @channel's message, written by @writer.  The common case, a
 * message of the same size class, is copied in place; otherwise a new
 * buffer is swapped in, and a new channel is also charged the index nodes
 * it needs.  Channels are never erased, so a charged node stays charged
 * (to the budget and to the user who created the channel) until unload.
 * @gfp: GFP_NOWAIT for IOCB_NOWAIT writes, which get -EAGAIN instead of
 * waiting for memory.
 */
static int msgslot_publish(struct msgslot *slot, u32 channel, const u8 *text,
			   size_t len, struct user_share *writer, gfp_t gfp)
{
	seqcount_spinlock_t *seq = msgslot_seq(slot, channel);
	XA_STATE(xas, &slot->channels, channel);
	struct msgslot_msg *msg, *old;
	unsigned long nodes, left;
	bool nomem = false;	/* @ret is an allocation failure */
	int exempt = -1;
	int ret;

retry_in_place:
	xas_lock(&xas);
	old = xas_load(&xas);
	if (old && msg_cache_index(old->len) == msg_cache_index(len)) {
		ret = old->owner == writer ? 0 :
			msg_charge_store(slot, writer, &exempt, old,
					 msg_charge(old), 0);
		if (!ret) {
			write_seqcount_begin(seq);
			old->gen = msg_next_gen(old);
			old->owner = writer;
			old->len = len;
			memcpy(old->data, text, len);
			write_seqcount_end(seq);
		}
		xas_unlock(&xas);
		if (ret == -EAGAIN) {
			exempt = user_share_exempt();
			goto retry_in_place;
		}
		return ret;
	}
	xas_unlock(&xas);
	xas_reset(&xas);

	msg = msg_alloc(text, len, gfp);
	if (!msg)
		return gfpflags_allow_blocking(gfp) ? -ENOMEM : -EAGAIN;
	msg->owner = writer;

	/* The store allocates under the lock without sleeping, or fails and
	 * xas_nomem() allocates a node outside it: recount after each retry.
	 */
	do {
		xas_lock(&xas);
		old = xas_load(&xas);
		nodes = old ? 0 : msgslot_index_nodes_to_insert(&slot->channels, channel);
		nomem = false;
		if (!old && slot->nr_channels >= READ_ONCE(max_channels))
			ret = -ENOMEM;
		else
			ret = msg_charge_store(slot, writer, &exempt, old,
					       msg_charge(msg),
					       nodes * MSGSLOT_INDEX_NODE_BYTES);
		if (!ret) {
			msg->gen = msg_next_gen(old);
			xas_store(&xas, msg);
			ret = xas_error(&xas);
			nomem = ret == -ENOMEM;
			if (ret) {
				/* Only a new channel allocates (@old is NULL);
				 * nodes linked before the failure stay, charged.
				 */
				left = msgslot_index_nodes_to_insert(&slot->channels, channel);
				budget_uncharge(&msg_budget, msg_charge(msg) +
						left * MSGSLOT_INDEX_NODE_BYTES);
				atomic_long_sub(msg_charge(msg) + left * MSGSLOT_INDEX_NODE_BYTES,
						&writer->msg_bytes);
				nodes -= left;
			} else if (!old) {
				slot->nr_channels++;
			} else {
				/* Readers that copied @old retry (see struct msgslot_msg). */
				write_seqcount_begin(seq);
				write_seqcount_end(seq);
			}
			slot->index_bytes += nodes * MSGSLOT_INDEX_NODE_BYTES;
		}
		xas_unlock(&xas);
		if (ret == -EAGAIN) {
			exempt = user_share_exempt();
			xas_set(&xas, channel);
			continue;
		}
	} while (ret == -EAGAIN || xas_nomem(&xas, gfp | __GFP_ACCOUNT));

	if (ret) {
		msg_free(msg);
		return nomem && !gfpflags_allow_blocking(gfp) ? -EAGAIN : ret;
	}
	if (old) {
		/* Order the seqcount bump before call_rcu() overwrites ->gen. */
		smp_wmb();
		call_rcu(&old->rcu, msg_free_rcu);
	}
	return 0;
}

/*
 * Store the @count bytes copied into @text as @channel's message; @nowait:
 * fail with -EAGAIN rather than wait for memory.
 */
static ssize_t msgslot_store(struct msgslot_file *mf, u32 channel, u8 *text,
			     size_t count, bool nowait)
{
	gfp_t gfp = nowait ? GFP_NOWAIT | __GFP_NOWARN : GFP_KERNEL;
	struct user_share *writer;
	int ret;

	if (READ_ONCE(mf->censor)) {
		size_t i;

		for (i = censor_period - 1; i < count; i += censor_period)
			text[i] = '#';
	}

	/* Most files are written by one user: look its share up once. */
	writer = READ_ONCE(mf->writer);
	if (!writer || !uid_eq(writer->uid, current_uid())) {
		writer = user_share_get(gfp);
		if (!writer)
			return nowait ? -EAGAIN : -ENOMEM;
		WRITE_ONCE(mf->writer, writer);
	}
	ret = msgslot_publish(mf->slot, channel, text, count, writer, gfp);
	if (ret)
		return ret;
	msgslot_notify(mf->slot, channel);
	return count;
}

static ssize_t msgslot_write(struct file *file, const char __user *buf,
			     size_t count, loff_t *ppos)
{
	struct msgslot_file *mf = file->private_data;
	u32 channel = READ_ONCE(mf->channel);
	u8 text[MSG_SLOT_MAX_LEN];

	if (!channel)
		return -EINVAL;
	if (!count || count > MSG_SLOT_MAX_LEN)
		return -EMSGSIZE;
	/* Copy first: a bad buffer must leave the old message untouched. */
	if (copy_from_user(text, buf, count))
		return -EINVAL;
	return msgslot_store(mf, channel, text, count, false);
}

/*
 * writev, pwritev2, io_uring: all segments together are one message (the
 * VFS would otherwise call .write once per segment), checked as for write.
 */
static ssize_t msgslot_write_iter(struct kiocb *iocb, struct iov_iter *from)
{
	struct msgslot_file *mf = iocb->ki_filp->private_data;
	u32 channel = READ_ONCE(mf->channel);
	size_t count = iov_iter_count(from);
	u8 text[MSG_SLOT_MAX_LEN];

	if (!channel)
		return -EINVAL;
	if (!count || count > MSG_SLOT_MAX_LEN)
		return -EMSGSIZE;
	if (copy_from_iter(text, count, from) != count)
		return -EINVAL;
	return msgslot_store(mf, channel, text, count,
			     iocb->ki_flags & IOCB_NOWAIT);
}

static const struct file_operations msgslot_fops = {
	.owner		= THIS_MODULE,
	.open		= msgslot_open,
	.release	= msgslot_release,
	/* read/write skip building an iov_iter; the rest go through _iter. */
	.read		= msgslot_read,
	.write		= msgslot_write,
	.read_iter	= msgslot_read_iter,
	.write_iter	= msgslot_write_iter,
	.poll		= msgslot_poll,
	.unlocked_ioctl	= msgslot_ioctl,
	.compat_ioctl	= msgslot_ioctl,
};

static void msgslot_destroy_all(void)
{
	struct msgslot *slot;
	unsigned long minor;

	xa_for_each(&msgslots, minor, slot)
		msgslot_destroy(slot);
	xa_destroy(&msgslots);
}

static int msgslot_init_caches(void)
{
	unsigned int i;

	for (i = 0; i < MSG_NR_CACHES; i++) {
		unsigned int size = MSG_OBJ_MIN + i * MSG_OBJ_STEP;
		char name[32];

		snprintf(name, sizeof(name), "message_slot_%u", size);
		msg_caches[i] = kmem_cache_create(name, size, 0, SLAB_ACCOUNT,
						  NULL);
		if (!msg_caches[i])
			return -ENOMEM;
	}
	return 0;
}

static void msgslot_destroy_caches(void)
{
	unsigned int i;

	for (i = 0; i < MSG_NR_CACHES; i++)
		kmem_cache_destroy(msg_caches[i]);	/* NULL is fine */
}

/* ------------------------------------------------------------------------
 * NP-Heap
 */

static unsigned long npheap_max_bytes = 256UL << 20;
module_param(npheap_max_bytes, ulong, 0644);
MODULE_PARM_DESC(npheap_max_bytes,
		 "Bound on memory held by all NP-Heap objects, in bytes (default 256 MiB)");

static ushort npheap_mode = 0666;
module_param(npheap_mode, ushort, 0444);
MODULE_PARM_DESC(npheap_mode, "Mode of the /dev/npheap* nodes (default 0666)");

static unsigned int npheap_max_locks = 131072;
module_param(npheap_max_locks, uint, 0644);
MODULE_PARM_DESC(npheap_max_locks,
		 "Bound on lock entries (ids locked or waited for) per NP-Heap heap (default 131072)");

static unsigned int npheap_max_locks_per_user = 16384;
module_param(npheap_max_locks_per_user, uint, 0644);
MODULE_PARM_DESC(npheap_max_locks_per_user,
		 "Share of npheap_max_locks one user (real uid) may hold in all heaps; CAP_SYS_RESOURCE is exempt (default 16384)");

static unsigned int npheap_nodes = 1;
module_param(npheap_nodes, uint, 0444);
MODULE_PARM_DESC(npheap_nodes,
		 "Number of /dev/npheap* nodes created on load (1..16, default 1)");

static struct mem_budget npheap_budget = { .limit = &npheap_max_bytes };
module_param_cb(npheap_bytes_used, &budget_used_ops, &npheap_budget, 0444);
MODULE_PARM_DESC(npheap_bytes_used, "Bytes charged to npheap_max_bytes now");

/*
 * DOC: Locking, NP-Heap
 *
 * Locks, and what each protects:
 *  - a heap's objects_lock (mutex): inserting and erasing objects; pages
 *    are allocated outside it, so it is held for a few instructions.
 *  - an object's grow_lock (mutex): growing it (allocating and zeroing its
 *    new pages, then @npages); taken killably.
 *  - a lock bucket's spinlock: its chain and every field of the per-id
 *    locks in it except @held.
 *  - an open file's @lock: its @holders, each holder's @locks and @ref,
 *    and the per-id locks' @held links.
 *  - a per-id lock's wait.lock: its waiters.
 *
 * Nesting, outermost first: bucket lock -> file @lock, and bucket lock ->
 * wait.lock (a release wakes one waiter).  objects_lock and grow_lock are
 * never held together, nor with a spinlock; no spinlock is held across a
 * sleep or a user copy.  Closing walks a holder's locks file lock first,
 * one lock at a time, dropping it before the bucket lock
 * (npheap_release_held()).
 *
 * Lockless: mmap, faults and GETSIZE find objects under RCU and keep them
 * with kref_get_unless_zero(); @npages is read with READ_ONCE (it only
 * grows, and an older mapping never looks past its own length); whether a
 * holder died is read under RCU (npheap_holder_dead()); bound counters are
 * atomics.
 */

/* ---- Objects --------------------------------------------------------- */

/*
 * An object: pages 0..npages-1 in @pages, all zeroed on creation.  The
 * heap's objects array holds one reference and every vma mapping the
 * object holds one; pages go back only when the last reference does.
 */
struct npheap_obj {
	struct kref ref;
	struct rcu_head rcu;
	pgoff_t id;
	struct mutex grow_lock;	/* serialises growing this object */
	unsigned long npages;	/* grows only, under @grow_lock */
	struct xarray pages;	/* page index -> struct page */
};

/*
 * A heap: its objects and its lock index.  Pages are allocated and zeroed
 * outside objects_lock, so one user's big object never delays another's.
 */
struct npheap {
	struct mutex objects_lock;	/* see "Locking, NP-Heap" */
	struct xarray objects;	/* id -> struct npheap_obj */
	struct npheap_locktab *locks;	/* set once, by the first open */
};

static struct npheap npheap_heaps[NPHEAP_MINORS];

/* An open file of a heap (@lock: "Locking, NP-Heap"). */
struct npheap_file {
	struct npheap *heap;
	struct npheap_locktab *locks;
	spinlock_t lock;	/* see "Locking, NP-Heap" */
	struct list_head holders;
};

/*
 * GETSIZE returns the size through the ioctl's int: objects stay below
 * 2 GiB so that every size it reports is true.
 */
#define NPHEAP_MAX_PAGES	((SZ_2G >> PAGE_SHIFT) - 1)

/* Nodes of an xarray holding the dense indices 0 .. @n - 1. */
static unsigned long npheap_dense_index_nodes(unsigned long n)
{
	unsigned long nodes = 0, span = XA_CHUNK_SIZE;

	if (n <= 1)		/* index 0 lives in the head itself */
		return 0;
	for (;;) {
		nodes += DIV_ROUND_UP(n, span);
		if (n <= span)
			return nodes;
		span <<= XA_CHUNK_SHIFT;
	}
}

/*
 * What an object of @npages pages at @id is charged: its pages, the index
 * of its pages, and one objects-index node per level of @id's path.  The
 * last part is exact for sparse ids and an overestimate for dense ones; only
 * the path of id 0 can hold nodes no object paid for, one per level.
 */
static unsigned long npheap_obj_charge(pgoff_t id, unsigned long npages)
{
	if (!npages)
		return 0;
	return (npages << PAGE_SHIFT) +
	       (npheap_dense_index_nodes(npages) + msgslot_index_shift(id) / XA_CHUNK_SHIFT + 1) *
	       MSGSLOT_INDEX_NODE_BYTES;
}

static void npheap_obj_free_pages(struct npheap_obj *obj, unsigned long from)
{
	struct page *page;
	unsigned long index;

	xa_for_each_start(&obj->pages, index, page, from) {
		xa_erase(&obj->pages, index);
		put_page(page);
	}
}

static void npheap_obj_release(struct kref *ref)
{
	struct npheap_obj *obj = container_of(ref, struct npheap_obj, ref);

	npheap_obj_free_pages(obj, 0);
	xa_destroy(&obj->pages);
	mutex_destroy(&obj->grow_lock);
	budget_uncharge(&npheap_budget, npheap_obj_charge(obj->id, obj->npages));
	kfree_rcu(obj, rcu);
}

static void npheap_obj_put(struct npheap_obj *obj)
{
	kref_put(&obj->ref, npheap_obj_release);
}

/* Zeroed pages between two checks for a fatal signal (SIGKILL). */
#define NPHEAP_PAGES_PER_CHECK	256

/* Grow @obj to @npages zeroed pages; on failure it is left as it was. */
static int npheap_obj_grow(struct npheap_obj *obj, unsigned long npages)
{
	long charge;
	unsigned long index;
	int ret;

	lockdep_assert_held(&obj->grow_lock);
	if (npages > NPHEAP_MAX_PAGES)
		return -EFBIG;
	charge = npheap_obj_charge(obj->id, npages) -
		 npheap_obj_charge(obj->id, obj->npages);
	if (!budget_charge(&npheap_budget, charge))
		return -ENOMEM;

	for (index = obj->npages; index < npages; index++) {
		struct page *page;

		if (index % NPHEAP_PAGES_PER_CHECK == 0 &&
		    fatal_signal_pending(current)) {
			ret = -EINTR;
			goto undo;
		}
		page = alloc_page(GFP_HIGHUSER | __GFP_ZERO | __GFP_ACCOUNT);
		if (!page) {
			ret = -ENOMEM;
			goto undo;
		}
		ret = xa_err(xa_store(&obj->pages, index, page, GFP_KERNEL));
		if (ret) {
			put_page(page);
			goto undo;
		}
	}
	/* Faults of older mappings never look past their own length. */
	WRITE_ONCE(obj->npages, npages);
	return 0;

undo:
	npheap_obj_free_pages(obj, obj->npages);
	budget_uncharge(&npheap_budget, charge);
	return ret;
}

/* A new object @id of @npages zeroed pages, seen by nobody yet. */
static struct npheap_obj *npheap_obj_new(pgoff_t id, unsigned long npages)
{
	struct npheap_obj *obj;
	int ret;

	obj = kzalloc(sizeof(*obj), GFP_KERNEL_ACCOUNT);
	if (!obj)
		return ERR_PTR(-ENOMEM);
	kref_init(&obj->ref);
	obj->id = id;
	mutex_init(&obj->grow_lock);
	xa_init_flags(&obj->pages, XA_FLAGS_ACCOUNT);
	/* Nobody else sees @obj yet: the lock is for the rule, never waited on. */
	mutex_lock(&obj->grow_lock);
	ret = npheap_obj_grow(obj, npages);
	mutex_unlock(&obj->grow_lock);
	if (ret) {
		npheap_obj_put(obj);
		return ERR_PTR(ret);
	}
	return obj;
}

/* Grow @obj, which the caller holds a reference on, to at least @npages. */
static int npheap_obj_grow_to(struct npheap_obj *obj, unsigned long npages)
{
	int ret;

	if (READ_ONCE(obj->npages) >= npages)
		return 0;
	ret = mutex_lock_killable(&obj->grow_lock);
	if (ret)
		return ret;
	ret = obj->npages < npages ? npheap_obj_grow(obj, npages) : 0;
	mutex_unlock(&obj->grow_lock);
	return ret;
}

/* @id's object with a reference, or NULL. */
static struct npheap_obj *npheap_obj_find(struct npheap *heap, pgoff_t id)
{
	struct npheap_obj *obj;

	rcu_read_lock();
	obj = xa_load(&heap->objects, id);
	if (obj && !kref_get_unless_zero(&obj->ref))
		obj = NULL;
	rcu_read_unlock();
	return obj;
}

/*
 * Take a reference on object @id of at least @npages, creating or growing
 * it.  A new object is made in full before objects_lock is taken to
 * insert it; if another was inserted meanwhile, that one is used.
 */
static struct npheap_obj *npheap_obj_get(struct npheap *heap, pgoff_t id,
					 unsigned long npages)
{
	struct npheap_obj *obj, *fresh;
	int ret;

	obj = npheap_obj_find(heap, id);
	if (!obj) {
		fresh = npheap_obj_new(id, npages);
		if (IS_ERR(fresh))
			return fresh;
		ret = mutex_lock_killable(&heap->objects_lock);
		if (ret) {
			npheap_obj_put(fresh);
			return ERR_PTR(ret);
		}
		obj = xa_load(&heap->objects, id);
		if (obj) {
			/* In the array, so its reference is there too. */
			kref_get(&obj->ref);
		} else {
			ret = xa_err(xa_store(&heap->objects, id, fresh,
					      GFP_KERNEL));
			if (!ret) {
				obj = fresh;
				kref_get(&obj->ref);
				fresh = NULL;
			}
		}
		mutex_unlock(&heap->objects_lock);
		if (fresh)
			npheap_obj_put(fresh);
		if (ret)
			return ERR_PTR(ret);
	}
	ret = npheap_obj_grow_to(obj, npages);
	if (ret) {
		npheap_obj_put(obj);
		return ERR_PTR(ret);
	}
	return obj;
}

static long npheap_getsize(struct npheap *heap, pgoff_t id)
{
	struct npheap_obj *obj;
	long size = 0;

	rcu_read_lock();
	obj = xa_load(&heap->objects, id);
	if (obj)
		size = READ_ONCE(obj->npages) << PAGE_SHIFT;
	rcu_read_unlock();
	return size;
}

static long npheap_delete(struct npheap *heap, pgoff_t id)
{
	struct npheap_obj *obj;
	int ret;

	ret = mutex_lock_killable(&heap->objects_lock);
	if (ret)
		return ret;
	obj = xa_erase(&heap->objects, id);
	mutex_unlock(&heap->objects_lock);
	if (obj)
		npheap_obj_put(obj);
	return 0;
}

/* ---- Mappings -------------------------------------------------------- */

static void npheap_vm_open(struct vm_area_struct *vma)
{
	struct npheap_obj *obj = vma->vm_private_data;

	kref_get(&obj->ref);
}

static void npheap_vm_close(struct vm_area_struct *vma)
{
	npheap_obj_put(vma->vm_private_data);
}

static vm_fault_t npheap_vm_fault(struct vm_fault *vmf)
{
	struct npheap_obj *obj = vmf->vma->vm_private_data;
	struct page *page;

	/* vm_pgoff stays "id + offset in object" across splits and moves. */
	page = xa_load(&obj->pages, vmf->pgoff - obj->id);
	if (!page)
		return VM_FAULT_SIGBUS;
	get_page(page);
	vmf->page = page;
	return 0;
}

static const struct vm_operations_struct npheap_vm_ops = {
	.open	= npheap_vm_open,
	.close	= npheap_vm_close,
	.fault	= npheap_vm_fault,
};

static int npheap_mmap(struct file *file, struct vm_area_struct *vma)
{
	struct npheap_file *npf = file->private_data;
	struct npheap *heap = npf->heap;
	struct npheap_obj *obj;

	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;

	obj = npheap_obj_get(heap, vma->vm_pgoff, vma_pages(vma));
	if (IS_ERR(obj))
		return PTR_ERR(obj);

	vma->vm_private_data = obj;
	vma->vm_ops = &npheap_vm_ops;
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 3, 0)
	vm_flags_set(vma, VM_DONTEXPAND | VM_DONTDUMP);
#else
	vma->vm_flags |= VM_DONTEXPAND | VM_DONTDUMP;
#endif
	return 0;
}

/* ---- Locks ----------------------------------------------------------- */

/*
 * A per-id lock, created on first lock() of the id and freed when the last
 * reference goes.  The holder owns one reference and every thread inside
 * lock() for the id owns one until it has left the wait queue, so the
 * object outlives everyone who can touch it.
 */
struct npheap_idlock {
	struct hlist_node node;		/* in its bucket's chain */
	struct list_head held;		/* in holder->locks while held */
	pgoff_t id;
	refcount_t ref;
	struct pid *owner;		/* holding thread, NULL when free */
	struct npheap_holder *holder;	/* its process and open file */
	struct user_share *share;	/* the user charged for the entry */
	wait_queue_head_t wait;
};

/*
 * The locks one process holds through one open file, so that its close()
 * walks its own locks only, whoever else shares the file (fork).  Made by
 * the process's first lock() through the file, freed with its last lock;
 * @ref counts the locks on @locks plus lock() calls in progress.
 */
struct npheap_holder {
	struct list_head node;		/* in file->holders */
	struct list_head locks;
	struct npheap_file *file;
	struct pid *tgid;
	unsigned int ref;
};

/*
 * A bucket's lock is held for a chain walk and a few stores, so ids in
 * different buckets never wait for each other.
 */
struct npheap_lock_bucket {
	spinlock_t lock;	/* see "Locking, NP-Heap" */
	struct hlist_head chain;
};

/*
 * The lock index of a heap: a fixed table of buckets, made on first open.
 * Ids are bucketed by siphash under a random key of the table's own, so
 * no choice of ids makes another id's chain longer than chance does.
 */
struct npheap_locktab {
	unsigned int bits;
	siphash_key_t key;
	atomic_t count;			/* entries, bounded by npheap_max_locks */
	struct npheap_lock_bucket buckets[];
};

/* How often a sleeping waiter looks whether the holder died (no exit hook). */
#define NPHEAP_LOCK_RECHECK	(HZ / 4)

static struct npheap_lock_bucket *npheap_bucket(struct npheap_locktab *tab,
						pgoff_t id)
{
	return &tab->buckets[siphash_1u64(id, &tab->key) &
			     ((1U << tab->bits) - 1)];
}

static struct npheap_idlock *npheap_idlock_lookup(struct npheap_lock_bucket *b,
						  pgoff_t id)
{
	struct npheap_idlock *lock;

	lockdep_assert_held(&b->lock);
	hlist_for_each_entry(lock, &b->chain, node)
		if (lock->id == id)
			return lock;
	return NULL;
}

/* Drop a reference; the last one unhashes and frees. */
static void npheap_idlock_put_locked(struct npheap_locktab *tab,
				     struct npheap_lock_bucket *b,
				     struct npheap_idlock *lock)
{
	lockdep_assert_held(&b->lock);
	if (refcount_dec_and_test(&lock->ref)) {
		hlist_del(&lock->node);
		atomic_dec(&tab->count);
		atomic_dec(&lock->share->npheap_locks);
		kfree(lock);
	}
}

static void npheap_idlock_put(struct npheap_locktab *tab,
			      struct npheap_lock_bucket *b,
			      struct npheap_idlock *lock)
{
	spin_lock(&b->lock);
	npheap_idlock_put_locked(tab, b, lock);
	spin_unlock(&b->lock);
}

/*
 * The holding thread is gone or exiting.  A module gets no call when a
 * thread dies, and a dying thread of a process that shares its fd table
 * closes nothing, so lock() and sleeping waiters look for themselves.
 */
static bool npheap_holder_dead(struct npheap_idlock *lock)
{
	struct task_struct *task;
	bool dead;

	rcu_read_lock();
	task = pid_task(lock->owner, PIDTYPE_PID);
	dead = !task || (READ_ONCE(task->flags) & PF_EXITING);
	rcu_read_unlock();
	return dead;
}

/* The calling process's holder on @npf, with a reference; NULL: no memory. */
static struct npheap_holder *npheap_holder_get(struct npheap_file *npf)
{
	struct pid *tgid = task_tgid(current);
	struct npheap_holder *holder, *fresh = NULL;

	for (;;) {
		spin_lock(&npf->lock);
		list_for_each_entry(holder, &npf->holders, node)
			if (holder->tgid == tgid)
				goto found;
		if (fresh) {
			holder = fresh;
			fresh = NULL;
			list_add(&holder->node, &npf->holders);
			goto found;
		}
		spin_unlock(&npf->lock);
		fresh = kzalloc(sizeof(*fresh), GFP_KERNEL_ACCOUNT);
		if (!fresh)
			return NULL;
		INIT_LIST_HEAD(&fresh->locks);
		fresh->file = npf;
		fresh->tgid = get_pid(tgid);
	}
found:
	holder->ref++;
	spin_unlock(&npf->lock);
	if (fresh) {
		put_pid(fresh->tgid);
		kfree(fresh);
	}
	return holder;
}

/* Drop a reference, freeing the holder with the last. */
static void npheap_holder_put_locked(struct npheap_holder *holder)
{
	lockdep_assert_held(&holder->file->lock);
	if (--holder->ref)
		return;
	list_del(&holder->node);
	put_pid(holder->tgid);
	kfree(holder);
}

static void npheap_holder_put(struct npheap_holder *holder)
{
	struct npheap_file *npf = holder->file;

	spin_lock(&npf->lock);
	npheap_holder_put_locked(holder);
	spin_unlock(&npf->lock);
}

/* The caller gives the holder its reference. */
static void npheap_idlock_set_owner(struct npheap_lock_bucket *b,
				    struct npheap_idlock *lock,
				    struct npheap_holder *holder)
{
	lockdep_assert_held(&b->lock);
	lock->owner = get_pid(task_pid(current));
	lock->holder = holder;
	spin_lock(&holder->file->lock);
	holder->ref++;
	list_add(&lock->held, &holder->locks);
	spin_unlock(&holder->file->lock);
}

/* The holder's reference is left to the caller. */
static void npheap_idlock_clear_owner(struct npheap_lock_bucket *b,
				      struct npheap_idlock *lock)
{
	struct npheap_file *npf = lock->holder->file;

	lockdep_assert_held(&b->lock);
	spin_lock(&npf->lock);
	list_del_init(&lock->held);
	npheap_holder_put_locked(lock->holder);
	spin_unlock(&npf->lock);
	put_pid(lock->owner);
	lock->owner = NULL;
	lock->holder = NULL;
}

/* Give up a held lock and wake one waiter. */
static void npheap_idlock_release(struct npheap_locktab *tab,
				  struct npheap_lock_bucket *b,
				  struct npheap_idlock *lock)
{
	npheap_idlock_clear_owner(b, lock);
	wake_up(&lock->wait);
	npheap_idlock_put_locked(tab, b, lock);
}

/*
 * Take @lock if it is free or its holder died.  The new holder gets a
 * reference of its own (a dead holder's passes on): the caller keeps its
 * own until it is off the wait queue, since a sibling's close() can
 * release the lock the moment the bucket lock drops.
 */
static bool npheap_idlock_try_take(struct npheap_lock_bucket *b,
				   struct npheap_idlock *lock,
				   struct npheap_holder *holder)
{
	if (lock->owner) {
		if (!npheap_holder_dead(lock))
			return false;
		npheap_idlock_clear_owner(b, lock);
	} else {
		refcount_inc(&lock->ref);
	}
	npheap_idlock_set_owner(b, lock, holder);
	return true;
}

/*
 * A new entry for @id, with the caller's reference, counted against the
 * heap's bound and the caller's share.
 */
static struct npheap_idlock *npheap_idlock_alloc(struct npheap_locktab *tab,
						 pgoff_t id)
{
	struct npheap_idlock *lock;
	struct user_share *share;

	share = user_share_get(GFP_KERNEL);
	if (!share)
		return ERR_PTR(-ENOMEM);
	if (atomic_inc_return(&share->npheap_locks) >
	    READ_ONCE(npheap_max_locks_per_user) && !user_share_exempt()) {
		atomic_dec(&share->npheap_locks);
		return ERR_PTR(-ENOLCK);
	}
	if (atomic_inc_return(&tab->count) > READ_ONCE(npheap_max_locks)) {
		atomic_dec(&tab->count);
		atomic_dec(&share->npheap_locks);
		return ERR_PTR(-ENOLCK);
	}
	lock = kzalloc(sizeof(*lock), GFP_KERNEL_ACCOUNT);
	if (!lock) {
		atomic_dec(&tab->count);
		atomic_dec(&share->npheap_locks);
		return ERR_PTR(-ENOMEM);
	}
	lock->share = share;
	lock->id = id;
	refcount_set(&lock->ref, 1);
	INIT_LIST_HEAD(&lock->held);
	init_waitqueue_head(&lock->wait);
	return lock;
}

/* @id's lock with a new reference for the caller, or NULL. */
static struct npheap_idlock *npheap_idlock_find(struct npheap_lock_bucket *b,
						pgoff_t id)
{
	struct npheap_idlock *lock = npheap_idlock_lookup(b, id);

	if (lock)
		refcount_inc(&lock->ref);
	return lock;
}

/* lock(@id) by the calling thread, as a process of @holder. */
static long npheap_lock_as(struct npheap_holder *holder, pgoff_t id)
{
	struct npheap_locktab *tab = holder->file->locks;
	struct npheap_lock_bucket *b = npheap_bucket(tab, id);
	struct npheap_idlock *lock;
	DEFINE_WAIT(wait);
	bool taken = false;
	long ret = 0;

	spin_lock(&b->lock);
	lock = npheap_idlock_find(b, id);
	if (!lock) {
		struct npheap_idlock *fresh;

		spin_unlock(&b->lock);
		fresh = npheap_idlock_alloc(tab, id);
		if (IS_ERR(fresh))
			return PTR_ERR(fresh);
		spin_lock(&b->lock);
		lock = npheap_idlock_find(b, id);
		if (lock) {	/* lost a race */
			atomic_dec(&tab->count);
			atomic_dec(&fresh->share->npheap_locks);
			kfree(fresh);
		} else {
			hlist_add_head(&fresh->node, &b->chain);
			lock = fresh;
		}
	}
	if (lock->owner == task_pid(current))
		ret = -EDEADLK;
	else
		taken = npheap_idlock_try_take(b, lock, holder);
	if (ret || taken) {
		/* When taken, never the last reference: the holder has one. */
		npheap_idlock_put_locked(tab, b, lock);
		spin_unlock(&b->lock);
		return ret;
	}
	spin_unlock(&b->lock);

	for (;;) {
		prepare_to_wait_exclusive(&lock->wait, &wait, TASK_INTERRUPTIBLE);
		spin_lock(&b->lock);
		taken = npheap_idlock_try_take(b, lock, holder);
		spin_unlock(&b->lock);
		if (taken)
			break;
		if (signal_pending(current)) {
			ret = -EINTR;
			break;
		}
		schedule_timeout(NPHEAP_LOCK_RECHECK);
	}
	/* Our reference keeps @lock alive until we are off its queue. */
	finish_wait(&lock->wait, &wait);
	if (ret)	/* pass on a wake-up this waiter may have consumed */
		wake_up(&lock->wait);
	npheap_idlock_put(tab, b, lock);
	return ret;
}

static long npheap_lock(struct npheap_file *npf, pgoff_t id)
{
	struct npheap_holder *holder = npheap_holder_get(npf);
	long ret;

	if (!holder)
		return -ENOMEM;
	ret = npheap_lock_as(holder, id);
	npheap_holder_put(holder);
	return ret;
}

static long npheap_unlock(struct npheap_file *npf, pgoff_t id)
{
	struct npheap_lock_bucket *b = npheap_bucket(npf->locks, id);
	struct npheap_idlock *lock;
	long ret = 0;

	spin_lock(&b->lock);
	lock = npheap_idlock_lookup(b, id);
	if (lock && lock->owner == task_pid(current))
		npheap_idlock_release(npf->locks, b, lock);
	else
		ret = -EPERM;
	spin_unlock(&b->lock);
	return ret;
}

/*
 * Release the locks of @holder, one at a time: file lock to pick one and
 * pin it, then its bucket lock to release it.  The caller's reference
 * keeps @holder alive.
 */
static void npheap_release_held(struct npheap_holder *holder)
{
	struct npheap_file *npf = holder->file;
	struct npheap_locktab *tab = npf->locks;
	struct npheap_lock_bucket *b;
	struct npheap_idlock *lock;

	for (;;) {
		spin_lock(&npf->lock);
		lock = list_first_entry_or_null(&holder->locks,
						struct npheap_idlock, held);
		if (lock)	/* held, so the holder's reference exists */
			refcount_inc(&lock->ref);
		spin_unlock(&npf->lock);
		if (!lock)
			return;
		b = npheap_bucket(tab, lock->id);
		spin_lock(&b->lock);
		/* Unless someone else released it meanwhile (off the list then). */
		if (lock->holder == holder)
			npheap_idlock_release(tab, b, lock);
		spin_unlock(&b->lock);
		npheap_idlock_put(tab, b, lock);
	}
}

/*
 * The calling process's holder on @npf with a reference, if it holds or
 * is taking locks through it; @any: any process's holder.
 */
static struct npheap_holder *npheap_holder_find(struct npheap_file *npf,
						bool any)
{
	struct pid *tgid = task_tgid(current);
	struct npheap_holder *holder;

	spin_lock(&npf->lock);
	list_for_each_entry(holder, &npf->holders, node) {
		if (any || holder->tgid == tgid) {
			holder->ref++;
			spin_unlock(&npf->lock);
			return holder;
		}
	}
	spin_unlock(&npf->lock);
	return NULL;
}

/*
 * close() of a descriptor, including at exit: release the locks the
 * calling process took through this open file, walking only those.  Other
 * open files of the heap and other processes sharing this one (fork) keep
 * theirs.
 */
static int npheap_flush(struct file *file, fl_owner_t owner)
{
	struct npheap_holder *holder;

	holder = npheap_holder_find(file->private_data, false);
	if (holder) {
		npheap_release_held(holder);
		npheap_holder_put(holder);
	}
	return 0;
}

/* ---- File operations and nodes --------------------------------------- */

/*
 * Requests are decoded by number once the caller's struct size is known:
 * 32-bit callers use 28-byte numbers (see npheap_compat_ioctl).
 */
static bool npheap_cmd_known(unsigned int cmd, size_t size)
{
	return _IOC_TYPE(cmd) == _IOC_TYPE(MSG_SLOT_NPHEAP_LOCK) &&
	       _IOC_DIR(cmd) == (_IOC_READ | _IOC_WRITE) &&
	       _IOC_SIZE(cmd) == size &&
	       _IOC_NR(cmd) >= _IOC_NR(MSG_SLOT_NPHEAP_LOCK) &&
	       _IOC_NR(cmd) <= _IOC_NR(MSG_SLOT_NPHEAP_GETSIZE);
}

/* Only offset is meaningful; the original library leaves the rest. */
static long npheap_cmd_run(struct file *file, unsigned int cmd, u64 offset)
{
	struct npheap_file *npf = file->private_data;
	struct npheap *heap = npf->heap;
	pgoff_t id = offset >> PAGE_SHIFT;

	switch (_IOC_NR(cmd)) {
	case _IOC_NR(MSG_SLOT_NPHEAP_LOCK):
		return npheap_lock(npf, id);
	case _IOC_NR(MSG_SLOT_NPHEAP_UNLOCK):
		return npheap_unlock(npf, id);
	case _IOC_NR(MSG_SLOT_NPHEAP_DELETE):
		return npheap_delete(heap, id);
	default:
		return npheap_getsize(heap, id);
	}
}

static long npheap_ioctl(struct file *file, unsigned int cmd,
			 unsigned long arg)
{
	struct msg_slot_npheap_cmd ucmd;

	if (!npheap_cmd_known(cmd, sizeof(ucmd)))
		return -ENOTTY;
	if (copy_from_user(&ucmd, (void __user *)arg, sizeof(ucmd)))
		return -EFAULT;
	return npheap_cmd_run(file, cmd, ucmd.offset);
}

#ifdef CONFIG_COMPAT
/*
 * struct msg_slot_npheap_cmd as a 32-bit process lays it out: u64 aligned
 * to 4 on i386 and a 4-byte pointer, 28 bytes.  offset sits at byte 8 in both
 * layouts, so reading this struct serves programs built with either the
 * 32-bit numbers or the 64-bit ones (a 32-byte struct).
 */
struct npheap_compat_cmd {
	compat_u64 op;
	compat_u64 offset;
	compat_u64 size;
	compat_uptr_t data;
};

static_assert(offsetof(struct npheap_compat_cmd, offset) ==
	      offsetof(struct msg_slot_npheap_cmd, offset));

static long npheap_compat_ioctl(struct file *file, unsigned int cmd,
				unsigned long arg)
{
	struct npheap_compat_cmd ucmd;

	if (!npheap_cmd_known(cmd, sizeof(ucmd)) &&
	    !npheap_cmd_known(cmd, sizeof(struct msg_slot_npheap_cmd)))
		return -ENOTTY;
	if (copy_from_user(&ucmd, compat_ptr(arg), sizeof(ucmd)))
		return -EFAULT;
	return npheap_cmd_run(file, cmd, ucmd.offset);
}
#endif

/* About 8 lock entries per bucket at the bound, 64..4096 buckets. */
static struct npheap_locktab *npheap_locktab_alloc(void)
{
	unsigned int per8 = READ_ONCE(npheap_max_locks) / 8;
	unsigned int bits = clamp_t(unsigned int, fls(per8), 6, 12);
	struct npheap_locktab *tab;
	unsigned int i;

	tab = kvzalloc(struct_size(tab, buckets, 1U << bits), GFP_KERNEL_ACCOUNT);
	if (!tab)
		return NULL;
	tab->bits = bits;
	get_random_bytes(&tab->key, sizeof(tab->key));
	for (i = 0; i < 1U << bits; i++) {
		spin_lock_init(&tab->buckets[i].lock);
		INIT_HLIST_HEAD(&tab->buckets[i].chain);
	}
	return tab;
}

static int npheap_open(struct inode *inode, struct file *file)
{
	struct npheap *heap = &npheap_heaps[iminor(inode) - NPHEAP_MINOR_BASE];
	/* Pairs with the cmpxchg that publishes an initialised table. */
	struct npheap_locktab *tab = smp_load_acquire(&heap->locks);
	struct npheap_file *npf;

	if (!tab) {
		struct npheap_locktab *old;

		tab = npheap_locktab_alloc();
		if (!tab)
			return -ENOMEM;
		old = cmpxchg(&heap->locks, NULL, tab);
		if (old) {
			kvfree(tab);
			tab = old;
		}
	}
	npf = kzalloc(sizeof(*npf), GFP_KERNEL_ACCOUNT);
	if (!npf)
		return -ENOMEM;
	npf->heap = heap;
	npf->locks = tab;
	spin_lock_init(&npf->lock);
	INIT_LIST_HEAD(&npf->holders);
	file->private_data = npf;
	return 0;
}

/*
 * The last reference to the open file: locks still held through it belong
 * to threads that can no longer reach it (a clone(CLONE_FILES) child that
 * exited, a waiter that won after its process closed the fd).
 */
static int npheap_release(struct inode *inode, struct file *file)
{
	struct npheap_file *npf = file->private_data;
	struct npheap_holder *holder;

	while ((holder = npheap_holder_find(npf, true))) {
		npheap_release_held(holder);
		npheap_holder_put(holder);
	}
	kfree(npf);
	return 0;
}

static const struct file_operations npheap_fops = {
	.owner		= THIS_MODULE,
	.open		= npheap_open,
	.flush		= npheap_flush,
	.release	= npheap_release,
	.mmap		= npheap_mmap,
	.unlocked_ioctl	= npheap_ioctl,
#ifdef CONFIG_COMPAT
	.compat_ioctl	= npheap_compat_ioctl,
#endif
};

static void npheap_init_heaps(void)
{
	unsigned int i;

	for (i = 0; i < NPHEAP_MINORS; i++) {
		mutex_init(&npheap_heaps[i].objects_lock);
		xa_init_flags(&npheap_heaps[i].objects, XA_FLAGS_ACCOUNT);
	}
}

/* Unload: no file is open, so no mapping exists and no lock is held. */
static void npheap_destroy_heaps(void)
{
	struct npheap_obj *obj;
	unsigned long id;
	unsigned int i;

	for (i = 0; i < NPHEAP_MINORS; i++) {
		xa_for_each(&npheap_heaps[i].objects, id, obj)
			npheap_obj_put(obj);
		xa_destroy(&npheap_heaps[i].objects);
		/* Every release() emptied its files' locks: the table is empty. */
		if (npheap_heaps[i].locks)
			WARN_ON(atomic_read(&npheap_heaps[i].locks->count));
		kvfree(npheap_heaps[i].locks);
		mutex_destroy(&npheap_heaps[i].objects_lock);
	}
}

static struct class *npheap_class;

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 2, 0)
static char *npheap_devnode(const struct device *dev, umode_t *mode)
#else
static char *npheap_devnode(struct device *dev, umode_t *mode)
#endif
{
	if (mode)
		*mode = npheap_mode;
	return NULL;
}

static void npheap_remove_nodes(unsigned int count)
{
	while (count--)
		device_destroy(npheap_class,
			       MKDEV(MAJOR_NUM, NPHEAP_MINOR_BASE + count));
}

static int npheap_create_nodes(void)
{
	unsigned int i;

#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 4, 0)
	npheap_class = class_create("npheap");
#else
	npheap_class = class_create(THIS_MODULE, "npheap");
#endif
	if (IS_ERR(npheap_class))
		return PTR_ERR(npheap_class);
	npheap_class->devnode = npheap_devnode;

	for (i = 0; i < npheap_nodes; i++) {
		struct device *dev;

		dev = device_create(npheap_class, NULL,
				    MKDEV(MAJOR_NUM, NPHEAP_MINOR_BASE + i),
				    NULL, i ? "npheap%u" : "npheap", i);
		if (IS_ERR(dev)) {
			npheap_remove_nodes(i);
			class_destroy(npheap_class);
			return PTR_ERR(dev);
		}
	}
	return 0;
}

/* ------------------------------------------------------------------------
 * Module
 */

static struct cdev msgslot_cdev;
static struct cdev npheap_cdev;

static int __init message_slot_init(void)
{
	dev_t first = MKDEV(MAJOR_NUM, 0);
	int ret;

	if (censor_period < 1 || censor_period > MSG_SLOT_MAX_LEN) {
		pr_err("censor_period=%u is out of range 1..%u\n",
		       censor_period, MSG_SLOT_MAX_LEN);
		return -EINVAL;
	}
	if (npheap_nodes < 1 || npheap_nodes > NPHEAP_MINORS) {
		pr_err("npheap_nodes=%u is out of range 1..%u\n",
		       npheap_nodes, NPHEAP_MINORS);
		return -EINVAL;
	}

	ret = msgslot_init_caches();
	if (ret) {
		pr_err("cannot create message caches: %d\n", ret);
		goto err_caches;
	}
	npheap_init_heaps();

	ret = register_chrdev_region(first, NPHEAP_MINOR_BASE + NPHEAP_MINORS,
				     DEVICE_NAME);
	if (ret) {
		pr_err("cannot register major %d: %d\n", MAJOR_NUM, ret);
		goto err_caches;
	}

	cdev_init(&msgslot_cdev, &msgslot_fops);
	msgslot_cdev.owner = THIS_MODULE;
	ret = cdev_add(&msgslot_cdev, first, MSG_SLOT_MINORS);
	if (ret) {
		pr_err("cannot add message slot minors: %d\n", ret);
		goto err_region;
	}

	cdev_init(&npheap_cdev, &npheap_fops);
	npheap_cdev.owner = THIS_MODULE;
	ret = cdev_add(&npheap_cdev, MKDEV(MAJOR_NUM, NPHEAP_MINOR_BASE),
		       NPHEAP_MINORS);
	if (ret) {
		pr_err("cannot add NP-Heap minors: %d\n", ret);
		goto err_msgslot_cdev;
	}

	ret = npheap_create_nodes();
	if (ret) {
		pr_err("cannot create /dev/npheap: %d\n", ret);
		goto err_npheap_cdev;
	}
	/* Optional, as debugfs is: errors only leave the file out. */
	debugfs_dir = debugfs_create_dir("message_slot", NULL);
	debugfs_create_file("users", 0400, debugfs_dir, NULL, &user_shares_fops);
	return 0;

err_npheap_cdev:
	cdev_del(&npheap_cdev);
err_msgslot_cdev:
	cdev_del(&msgslot_cdev);
err_region:
	unregister_chrdev_region(first, NPHEAP_MINOR_BASE + NPHEAP_MINORS);
err_caches:
	msgslot_destroy_caches();
	return ret;
}

static void __exit message_slot_exit(void)
{
	debugfs_remove_recursive(debugfs_dir);
	npheap_remove_nodes(npheap_nodes);
	class_destroy(npheap_class);
	cdev_del(&npheap_cdev);
	cdev_del(&msgslot_cdev);
	unregister_chrdev_region(MKDEV(MAJOR_NUM, 0),
				 NPHEAP_MINOR_BASE + NPHEAP_MINORS);

	msgslot_destroy_all();
	npheap_destroy_heaps();
	/* Wait for replaced messages and released objects still in flight. */
	rcu_barrier();
	msgslot_destroy_caches();
	user_shares_destroy();
}

module_init(message_slot_init);
module_exit(message_slot_exit);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("Message slots and NP-Heap memory objects on major 235");
MODULE_VERSION(MSG_SLOT_VERSION);
MODULE_ALIAS("npheap");
MODULE_ALIAS_CHARDEV_MAJOR(MAJOR_NUM);
/*
 * /dev/npheap at boot and on first open, as the original misc device had:
 * depmod writes devname:<node> + char-major-<M>-<m> into modules.devname,
 * from which kmod creates the node that loads the module when opened.
 */
MODULE_ALIAS("devname:npheap");
MODULE_ALIAS_CHARDEV(MAJOR_NUM, 524288);
static_assert(NPHEAP_MINOR_BASE == 524288);
