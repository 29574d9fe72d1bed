// SPDX-License-Identifier: GPL-2.0
/* message_slot: a plain implementation of the course assignment. */

#include <linux/fs.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/xarray.h>

#include "message_slot.h"

MODULE_LICENSE("GPL");

#define NR_MINORS 256

struct channel {
	unsigned int len;
	char buf[BUF_LEN];
};

struct slot {
	struct xarray channels;
};

struct fd_state {
	unsigned int minor;
	unsigned int channel;
};

static struct slot *slots[NR_MINORS];
static DEFINE_MUTEX(slots_lock);

/* Called with slots_lock held. */
static struct channel *find_channel(unsigned int minor, unsigned int id, bool create)
{
	struct slot *s = slots[minor];
	struct channel *ch;

	if (!s) {
		if (!create)
			return NULL;
		s = kzalloc(sizeof(*s), GFP_KERNEL);
		if (!s)
			return ERR_PTR(-ENOMEM);
		xa_init(&s->channels);
		slots[minor] = s;
	}
	ch = xa_load(&s->channels, id);
	if (!ch && create) {
		ch = kzalloc(sizeof(*ch), GFP_KERNEL);
		if (!ch)
			return ERR_PTR(-ENOMEM);
		if (xa_err(xa_store(&s->channels, id, ch, GFP_KERNEL))) {
			kfree(ch);
			return ERR_PTR(-ENOMEM);
		}
	}
	return ch;
}

static int device_open(struct inode *inode, struct file *file)
{
	struct fd_state *st;

	if (iminor(inode) >= NR_MINORS)
		return -ENXIO;
	st = kzalloc(sizeof(*st), GFP_KERNEL);
	if (!st)
		return -ENOMEM;
	st->minor = iminor(inode);
	file->private_data = st;
	return SUCCESS;
}

static int device_release(struct inode *inode, struct file *file)
{
	kfree(file->private_data);
	return SUCCESS;
}

static long device_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	struct fd_state *st = file->private_data;

	if (cmd != MSG_SLOT_CHANNEL || arg == 0 || arg > UINT_MAX)
		return -EINVAL;
	st->channel = (unsigned int)arg;
	return SUCCESS;
}

static ssize_t device_read(struct file *file, char __user *buf, size_t count,
			   loff_t *offset)
{
	struct fd_state *st = file->private_data;
	struct channel *ch;
	ssize_t ret;

	if (!st->channel)
		return -EINVAL;
	mutex_lock(&slots_lock);
	ch = find_channel(st->minor, st->channel, false);
	if (!ch || !ch->len)
		ret = -EWOULDBLOCK;
	else if (count < ch->len)
		ret = -ENOSPC;
	else if (copy_to_user(buf, ch->buf, ch->len))
		ret = -EFAULT;
	else
		ret = ch->len;
	mutex_unlock(&slots_lock);
	return ret;
}

static ssize_t device_write(struct file *file, const char __user *buf,
			    size_t count, loff_t *offset)
{
	struct fd_state *st = file->private_data;
	struct channel *ch;
	ssize_t ret = count;

	if (!st->channel)
		return -EINVAL;
	if (count == 0 || count > BUF_LEN)
		return -EMSGSIZE;
	mutex_lock(&slots_lock);
	ch = find_channel(st->minor, st->channel, true);
	if (IS_ERR(ch))
		ret = PTR_ERR(ch);
	else if (copy_from_user(ch->buf, buf, count))
		ret = -EFAULT;
	else
		ch->len = count;
	mutex_unlock(&slots_lock);
	return ret;
}

static const struct file_operations fops = {
	.owner = THIS_MODULE,
	.open = device_open,
	.release = device_release,
	.read = device_read,
	.write = device_write,
	.unlocked_ioctl = device_ioctl,
};

static int __init slot_init(void)
{
	int rc = register_chrdev(MAJOR_NUM, DEVICE_RANGE_NAME, &fops);

	if (rc < 0) {
		pr_err("message_slot: register_chrdev(%d) failed: %d\n", MAJOR_NUM, rc);
		return rc;
	}
	pr_info("message_slot: registered major %d\n", MAJOR_NUM);
	return SUCCESS;
}

static void __exit slot_exit(void)
{
	struct channel *ch;
	unsigned long id;
	int minor;

	unregister_chrdev(MAJOR_NUM, DEVICE_RANGE_NAME);
	for (minor = 0; minor < NR_MINORS; minor++) {
		struct slot *s = slots[minor];

		if (!s)
			continue;
		xa_for_each(&s->channels, id, ch)
			kfree(ch);
		xa_destroy(&s->channels);
		kfree(s);
	}
}

module_init(slot_init);
module_exit(slot_exit);
