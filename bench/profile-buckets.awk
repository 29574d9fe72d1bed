# Groups bench/profile.sh output (perf report --sort sym per workload) into
# cost buckets and converts shares to ns per op with the loop's own timing:
#   bench/profile.sh ... | awk -f bench/profile-buckets.awk
# The first matching pattern wins, so the specific buckets come first.
function bucket(sym) {
    if (sym ~ /^\[\.\]/) return "user space (libc, ipcbench)"
    sub(/^\[k\] /, "", sym)
    if (sym ~ /^(__check_object_size|check_stack_object|__check_heap_object|__virt_addr_valid|check_heap_object)/) return "hardened usercopy checks"
    if (sym ~ /^(copy_user_|_copy_from_user|_copy_to_user|copy_page_(to|from)_iter|_copy_(to|from)_iter|copyin|copyout)/) return "copy to/from user"
    if (sym ~ /^(__rcu_read_lock|__rcu_read_unlock)$/) return "RCU read side"
    if (sym ~ /^(msgslot_|budget_|msg_|npheap_)/) return "driver code (self)"
    if (sym ~ /^(xa_|xas_|__xa|__xas)/) return "xarray"
    if (sym ~ /^(kmem_cache_alloc|___slab_alloc|__slab_alloc|allocate_slab|new_slab|memset|clear_page|get_page_from_freelist|__alloc_pages|shuffle_freelist|setup_object|__kmem_cache_alloc)/) return "slab alloc + init_on_alloc zeroing"
    if (sym ~ /^(call_rcu|rcu_|__slab_free|kmem_cache_free|cmpxchg_double_slab|handle_softirqs|__do_softirq|discard_slab|free_|__free_|put_cpu_partial|unfreeze|_raw_spin_unlock_irqrestore|irq_exit|__irq_exit)/) return "RCU free, irqsave unlocks"
    if (sym ~ /^(pipe_|mutex_|__wake_up|_raw_spin_unlock_irq$|_raw_spin_lock_irq|current_time|file_update_time|touch_atime|atime_needs_update|ktime_get_coarse|__get_task_ioprio|file_modified|generic_update_time|__mnt_want_write|mnt_drop_write|__sb_start_write|__sb_end_write|inode_needs_update_time)/) return "pipe (locks, wakeups, [am]time)"
    if (sym ~ /^(mq_|do_mq_|wq_|__do_sys_mq|msg_get|msg_insert|load_msg|store_msg|free_msg|__x64_sys_mq|ipc_|pipelined)/) return "mqueue"
    if (sym ~ /^(unix_|sock_|__sock|sk_|skb_|__skb|kfree_skb|alloc_skb|__alloc_skb|consume_skb|__sys_send|__sys_recv|sock_|security_socket|apparmor_socket|aa_sk|aa_sock|__kmalloc|kfree|kmalloc|skb)/) return "socket/skb"
    if (sym ~ /^(syscall_|do_syscall_64|x64_sys_call|entry_SYSCALL|__x64_sys_|ksys_|exit_to_user|__x86_indirect|__fdget|__fget|fdget|fput|do_vfs_ioctl)/) return "syscall entry + fd lookup"
    if (sym ~ /^(vfs_|rw_verify_area|security_|apparmor|aa_|tomoyo|bpf_lsm|fsnotify)/) return "VFS + LSM hooks"
    if (sym ~ /^(finish_task_switch|__schedule|schedule|pick_next|update_curr|__switch_to|switch_mm|dequeue|enqueue|do_sched_yield|yield_task|put_prev|set_next|sched_|__cond_resched|_raw_spin_(lock|unlock)$)/) return "scheduler + spinlocks"
    return "other"
}
/^=== profile:/ { flush(); title = $0; next }
/^ipcbench: loop/ { for (i = 1; i <= NF; i++) if ($i == "ns/op") nsop = $(i - 1); next }
$1 ~ /%$/ {
    pct = $1; sub(/%/, "", pct); sym = $2 " " $3
    b = bucket(sym); share[b] += pct; total += pct
    if (!(b in top) || pct > toppct[b]) { top[b] = $3; toppct[b] = pct }
    next
}
function flush(    b, n, i, j, keys, tmp) {
    if (title == "") return
    print title "  (" nsop " ns/op)"
    n = 0
    for (b in share) keys[++n] = b
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++)
        if (share[keys[j]] > share[keys[i]]) { tmp = keys[i]; keys[i] = keys[j]; keys[j] = tmp }
    for (i = 1; i <= n; i++)
        printf "  %-38s %5.1f%%  %6.0f ns/op   (top: %s)\n", keys[i], share[keys[i]], \
            nsop * share[keys[i]] / (total ? total : 100), top[keys[i]]
    delete share; delete top; delete toppct; total = 0; nsop = 0; title = ""
}
END { flush() }
