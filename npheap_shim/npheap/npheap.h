/* SPDX-License-Identifier: GPL-2.0 */
/*
 * NP-Heap kernel ABI, binary compatible with the original
 * course module.  Shared by the message_slot module and by user space.
 *
 * The object id is cmd.offset >> PAGE_SHIFT in ioctls and the mmap page
 * offset (offset = id * page size) in mmap.  The other fields are ignored:
 * the original library leaves them uninitialised.
 */
#ifndef _NPHEAP_NPHEAP_H
#define _NPHEAP_NPHEAP_H

#include <linux/types.h>
#include <linux/ioctl.h>

#ifndef __KERNEL__
#ifndef __user
#define __user		/* kernel annotation of user pointers (sparse) */
#endif
#endif

struct npheap_cmd {
	__u64 op;
	__u64 offset;
	__u64 size;
	void __user *data;
};

#define NPHEAP_IOCTL_LOCK	_IOWR('N', 0x43, struct npheap_cmd)
#define NPHEAP_IOCTL_UNLOCK	_IOWR('N', 0x44, struct npheap_cmd)
#define NPHEAP_IOCTL_DELETE	_IOWR('N', 0x45, struct npheap_cmd)
#define NPHEAP_IOCTL_GETSIZE	_IOWR('N', 0x46, struct npheap_cmd)

#endif /* _NPHEAP_NPHEAP_H */
