/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The user/kernel interface of the message_slot driver.
 *
 * Included both by the module and by plain user-space C11 programs, so it
 * uses only <linux/types.h> and <linux/ioctl.h>, which exist on both sides.
 * It is the module's only header: the module builds from message_slot.c
 * and this file alone.
 *
 * Minor map of the single major-235 driver:
 *
 *   0 .. MSG_SLOT_MINORS - 1                      message slots (mknod by hand)
 *   NPHEAP_MINOR_BASE .. + NPHEAP_MINORS - 1      NP-Heap heaps; the first is
 *                                                 created on load as /dev/npheap
 */
#ifndef MESSAGE_SLOT_H
#define MESSAGE_SLOT_H

#include <linux/types.h>
#include <linux/ioctl.h>

#ifndef __KERNEL__
#ifndef __user
#define __user		/* kernel annotation of user pointers (sparse) */
#endif
#endif

#define MAJOR_NUM		235
#define DEVICE_NAME		"message_slot"

/*
 * The one version of the project: the module (MODULE_VERSION), the CLIs
 * (--version), the NP-Heap library, the Python package, DKMS and the
 * Debian packages.  tests/host/17-docs.sh checks that they all agree.
 */
#define MSG_SLOT_VERSION	"1.0.0"

/*
 * Every request is accepted in two encodings: with unsigned int (below)
 * and, as other course headers declare them, with unsigned long (the _UL
 * names; on 64-bit their size field differs).  The argument is passed by
 * value and checked the same way in both.
 */
/* Select this fd's channel; the id (1..UINT_MAX) is passed by value. */
#define MSG_SLOT_CHANNEL	_IOW(MAJOR_NUM, 0, unsigned int)
#define MSG_SLOT_CHANNEL_UL	_IOW(MAJOR_NUM, 0, unsigned long)
/* Censor writes through this fd: argument 0 (off) or 1 (on). */
#define MSG_SLOT_SET_CEN	_IOW(MAJOR_NUM, 1, unsigned int)
#define MSG_SLOT_SET_CEN_UL	_IOW(MAJOR_NUM, 1, unsigned long)
/*
 * Waiting reads through this fd: argument 0 (off) or 1 (on).  When on, a
 * read finding no message this fd has not read yet sleeps until a write to
 * its channel (EAGAIN with O_NONBLOCK, EINTR on a signal).
 */
#define MSG_SLOT_SET_WAIT	_IOW(MAJOR_NUM, 2, unsigned int)
#define MSG_SLOT_SET_WAIT_UL	_IOW(MAJOR_NUM, 2, unsigned long)

/* Largest message, in bytes; messages are 1..MSG_SLOT_MAX_LEN bytes. */
#define MSG_SLOT_MAX_LEN	128

#define MSG_SLOT_MINORS		524288U		/* 2^19 */
#define NPHEAP_MINOR_BASE	MSG_SLOT_MINORS
#define NPHEAP_MINORS		16U

/*
 * The NP-Heap ioctls, binary compatible with the original course module.
 * Programs use them through npheap_shim/npheap/npheap.h (struct npheap_cmd,
 * NPHEAP_IOCTL_*), which stays standalone for the original course code;
 * tests/static/npheap_abi_agree.c fails to compile if the two differ.
 * The object id is offset >> PAGE_SHIFT; the other fields are ignored (the
 * original library leaves them uninitialised).
 */
struct msg_slot_npheap_cmd {
	__u64 op;
	__u64 offset;
	__u64 size;
	void __user *data;
};

#define MSG_SLOT_NPHEAP_LOCK	_IOWR('N', 0x43, struct msg_slot_npheap_cmd)
#define MSG_SLOT_NPHEAP_UNLOCK	_IOWR('N', 0x44, struct msg_slot_npheap_cmd)
#define MSG_SLOT_NPHEAP_DELETE	_IOWR('N', 0x45, struct msg_slot_npheap_cmd)
#define MSG_SLOT_NPHEAP_GETSIZE	_IOWR('N', 0x46, struct msg_slot_npheap_cmd)

#ifndef __KERNEL__
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/ioctl.h>	/* programs call ioctl() with only this header */

/*
 * Names that other course headers and testers use, so that their programs
 * build against this header unchanged.  Literal values: a program that
 * defines the same name with the same value is not a redefinition.
 */
#ifndef BUF_LEN
#define BUF_LEN			128	/* = MSG_SLOT_MAX_LEN */
#endif
#ifndef MAX_MSG_LEN
#define MAX_MSG_LEN		128
#endif
#ifndef MAX_MESSAGE_LENGTH
#define MAX_MESSAGE_LENGTH	128
#endif
#ifndef MAX_BUFF_SIZE
#define MAX_BUFF_SIZE		128
#endif
#ifndef DEVICE_RANGE_NAME
#define DEVICE_RANGE_NAME	"message_slot"	/* = DEVICE_NAME */
#endif
#ifndef DEVICE_FILE_NAME
#define DEVICE_FILE_NAME	"message_slot"
#endif
#ifndef SUCCESS
#define SUCCESS			0
#endif

/*
 * Parse a channel id (or flag) as the CLIs do: decimal 0..UINT_MAX and
 * nothing else.  Returns 0, or -1 with errno EINVAL (junk) or ERANGE.
 */
static inline int msg_slot_parse_uint(const char *text, unsigned int *value)
{
	unsigned long parsed;
	char *end;

	if (*text < '0' || *text > '9') {
		errno = EINVAL;
		return -1;
	}
	errno = 0;
	parsed = strtoul(text, &end, 10);
	if (errno)
		return -1;
	if (*end) {
		errno = EINVAL;
		return -1;
	}
	if (parsed > UINT_MAX) {
		errno = ERANGE;
		return -1;
	}
	*value = (unsigned int)parsed;
	return 0;
}
#endif /* !__KERNEL__ */

#endif /* MESSAGE_SLOT_H */
