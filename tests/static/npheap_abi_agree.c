// SPDX-License-Identifier: GPL-2.0
/*
 * Compiles only if the module's NP-Heap ABI (message_slot.h) and the one
 * user space includes (npheap_shim/npheap/npheap.h, standalone for the
 * original course programs) agree: the same ioctl numbers and the same
 * struct layout.  Built for -m64 and -m32 by tests/host/12-submission.sh.
 */
#include <stddef.h>

#include "message_slot.h"
#include "npheap/npheap.h"

#define SAME_FIELD(f) \
	(offsetof(struct msg_slot_npheap_cmd, f) == \
	 offsetof(struct npheap_cmd, f) && \
	 sizeof(((struct msg_slot_npheap_cmd *)0)->f) == \
	 sizeof(((struct npheap_cmd *)0)->f))

_Static_assert(MSG_SLOT_NPHEAP_LOCK == NPHEAP_IOCTL_LOCK, "LOCK differs");
_Static_assert(MSG_SLOT_NPHEAP_UNLOCK == NPHEAP_IOCTL_UNLOCK, "UNLOCK differs");
_Static_assert(MSG_SLOT_NPHEAP_DELETE == NPHEAP_IOCTL_DELETE, "DELETE differs");
_Static_assert(MSG_SLOT_NPHEAP_GETSIZE == NPHEAP_IOCTL_GETSIZE,
	       "GETSIZE differs");
_Static_assert(sizeof(struct msg_slot_npheap_cmd) == sizeof(struct npheap_cmd),
	       "struct size differs");
_Static_assert(SAME_FIELD(op), "op differs");
_Static_assert(SAME_FIELD(offset), "offset differs");
_Static_assert(SAME_FIELD(size), "size differs");
_Static_assert(SAME_FIELD(data), "data differs");

int main(void)
{
	return 0;
}
