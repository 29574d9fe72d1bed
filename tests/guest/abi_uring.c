// SPDX-License-Identifier: GPL-2.0
/*
 * abi_uring.c - message slot reads and writes submitted through io_uring
 * (liburing, linked statically): one request = one message, with the
 * errors of read/write in the completion; a read of a never-written channel
 * waits for its first message (RWF_NOWAIT gets read(2)'s EWOULDBLOCK).
 *
 * Runs with the module loaded with default parameters.
 */
#define _GNU_SOURCE
#include <liburing.h>
#include <sys/uio.h>

#include "tap.h"
#include "msgslot_util.h"

#define MINOR	8

static struct io_uring ring;

/* Submit the prepared request and return its result (a -errno or a count). */
static int complete(void)
{
	struct io_uring_cqe *cqe;
	int ret;

	ret = io_uring_submit(&ring);
	if (ret != 1)
		return ret < 0 ? ret : -EIO;
	ret = io_uring_wait_cqe(&ring, &cqe);
	if (ret)
		return ret;
	ret = cqe->res;
	io_uring_cqe_seen(&ring, cqe);
	return ret;
}

/* A read with RWF_NOWAIT: -EAGAIN at once where read(2) would not wait. */
static int uring_read_nowait(int fd, void *buf, unsigned int len)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

	io_uring_prep_read(sqe, fd, buf, len, -1);
	sqe->rw_flags = RWF_NOWAIT;
	return complete();
}

static int uring_write(int fd, const void *buf, unsigned int len)
{
	io_uring_prep_write(io_uring_get_sqe(&ring), fd, buf, len, -1);
	return complete();
}

static int uring_read(int fd, void *buf, unsigned int len)
{
	io_uring_prep_read(io_uring_get_sqe(&ring), fd, buf, len, -1);
	return complete();
}

static int uring_writev(int fd, const struct iovec *iov, unsigned int n)
{
	io_uring_prep_writev(io_uring_get_sqe(&ring), fd, iov, n, -1);
	return complete();
}

static int uring_readv(int fd, const struct iovec *iov, unsigned int n)
{
	io_uring_prep_readv(io_uring_get_sqe(&ring), fd, iov, n, -1);
	return complete();
}

/* A -errno result as "-EINVAL", a count as itself. */
static const char *res_name(int res)
{
	static char text[48];

	if (res < 0)
		snprintf(text, sizeof(text), "-%s", tap_errno_name(-res));
	else
		snprintf(text, sizeof(text), "%d", res);
	return text;
}

#define EXPECT_RES(expr, want, what)                                     \
	do {                                                             \
		int res_ = (expr);                                       \
		TAP_CHECK(res_ == (want), "%s: expected %s, got %s", what, \
			  res_name(want), res_name(res_));               \
	} while (0)

static bool t_write_read(char *why)
{
	char buf[200], big[129];
	int fd = slot_open_channel(MINOR, 1), unset = slot_open(MINOR, O_RDWR);

	TAP_CHECK(fd >= 0 && unset >= 0, "open: %s", tap_errno_name(errno));
	memset(big, 'b', sizeof(big));
	EXPECT_RES(uring_read_nowait(fd, buf, sizeof(buf)), -EWOULDBLOCK,
		   "RWF_NOWAIT read of an empty channel");
	EXPECT_RES(uring_write(fd, "ring", 4), 4, "write(ring)");
	EXPECT_MESSAGE(fd, "ring", 4, "read(2) after an io_uring write");
	EXPECT_RES(uring_write(fd, big, 129), -EMSGSIZE, "write of 129 bytes");
	EXPECT_RES(uring_write(unset, "x", 1), -EINVAL, "write before MSG_SLOT_CHANNEL");
	EXPECT_RES(uring_write(fd, big, 128), 128, "write of 128 bytes");
	memset(buf, 0, sizeof(buf));
	EXPECT_RES(uring_read(fd, buf, sizeof(buf)), 128, "read of the 128-byte message");
	TAP_CHECK(!memcmp(buf, big, 128), "io_uring read returned other bytes");
	EXPECT_RES(uring_read(fd, buf, 127), -ENOSPC, "read into 127 bytes");
	EXPECT_RES(uring_read(unset, buf, sizeof(buf)), -EINVAL, "read before MSG_SLOT_CHANNEL");
	close(fd);
	close(unset);
	return true;
}

/*
 * io_uring waits for a readable fd before it reads: a plain read of a
 * never-written channel completes with the first message written to it.
 */
static bool t_empty_waits(char *why)
{
	struct io_uring_cqe *cqe;
	char buf[16] = "";
	int fd = slot_open_channel(MINOR, 3), writer = slot_open_channel(MINOR, 3);

	TAP_CHECK(fd >= 0 && writer >= 0, "open: %s", tap_errno_name(errno));
	io_uring_prep_read(io_uring_get_sqe(&ring), fd, buf, sizeof(buf), -1);
	TAP_CHECK(io_uring_submit(&ring) == 1, "submit");
	usleep(100000);
	TAP_CHECK(io_uring_peek_cqe(&ring, &cqe) == -EAGAIN,
		  "a read of an empty channel completed (%s) before any write",
		  res_name(cqe->res));
	EXPECT_RET(write(writer, "first", 5), 5, "write(first)");
	TAP_CHECK(io_uring_wait_cqe(&ring, &cqe) == 0, "wait_cqe");
	EXPECT_RES(cqe->res, 5, "the waiting read");
	io_uring_cqe_seen(&ring, cqe);
	TAP_CHECK(!memcmp(buf, "first", 5), "the waiting read returned '%.5s'", buf);
	EXPECT_RES(uring_read(fd, buf, sizeof(buf)), 5, "a read of the message already read");
	close(fd);
	close(writer);
	return true;
}

static bool t_vectored(char *why)
{
	char a[3], b[50];
	struct iovec out[] = { { "hello", 5 }, { "world!", 6 } };
	struct iovec in[] = { { a, 3 }, { b, 50 } };
	int fd = slot_open_channel(MINOR, 2);

	TAP_CHECK(fd >= 0, "open: %s", tap_errno_name(errno));
	EXPECT_RES(uring_writev(fd, out, 2), 11, "writev(hello, world!)");
	EXPECT_MESSAGE(fd, "helloworld!", 11, "read(2) after an io_uring writev");
	EXPECT_RES(uring_readv(fd, in, 2), 11, "readv into 3 + 50 bytes");
	TAP_CHECK(!memcmp(a, "hel", 3) && !memcmp(b, "loworld!", 8),
		  "readv segments hold '%.3s' '%.8s'", a, b);
	close(fd);
	return true;
}

int main(void)
{
	int ret;

	setvbuf(stdout, NULL, _IOLBF, 0);
	ret = io_uring_queue_init(4, &ring, 0);
	if (ret) {
		printf("not ok %s/uring-setup - io_uring_queue_init: %s\n",
		       tap_state()->suite, tap_errno_name(-ret));
		return 1;
	}
	tap_run("uring-read-write", t_write_read);
	tap_run("uring-readv-writev", t_vectored);
	tap_run("uring-read-of-empty-channel-waits", t_empty_waits);
	io_uring_queue_exit(&ring);
	return tap_exit_code();
}
