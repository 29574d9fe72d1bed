/*
 * npheap.h - the NP-Heap user library, same calls and signatures as the
 * original course library, so course programs build unchanged against it.
 *
 * Every call takes an fd of an open heap device (e.g. /dev/npheap) and an
 * object id ("offset" in the original names: an id, not a byte offset).
 */
#ifndef NPHEAP_H
#define NPHEAP_H

#include <linux/types.h>
#include <npheap/npheap.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Map object `offset`, creating it zero-filled if new; MAP_FAILED on error. */
void *npheap_alloc(int devfd, __u64 offset, __u64 size);
/* Take the object's lock, blocking while another thread/process holds it. */
int npheap_lock(int devfd, __u64 offset);
/* Release a lock held by the calling thread. */
int npheap_unlock(int devfd, __u64 offset);
/* Drop the object's data; the next alloc creates a fresh zeroed object. */
int npheap_delete(int devfd, __u64 offset);
/* Size of the object in bytes (page multiple), 0 when it does not exist. */
long npheap_getsize(int devfd, __u64 offset);

#ifdef __cplusplus
}
#endif

#endif /* NPHEAP_H */
