# SPDX-License-Identifier: GPL-2.0
#
# make              build message_slot.ko (against KDIR) and the CLIs
# make check        the whole test suite in QEMU VMs (see README.md)
# make demo         boot a VM and show a message round trip
# make bench        benchmarks against pipes, mqueues, sockets and shm
# make examples     examples/: one record through a file, NP-Heap and a slot
# sudo make load | unload | install

ifneq ($(KERNELRELEASE),)
# Kbuild half: invoked by the kernel's build system.
obj-m := message_slot.o
ccflags-y := -I$(src)/npheap_shim
else

KDIR ?= /lib/modules/$(shell uname -r)/build
PREFIX ?= /usr/local
DEVICE ?= /dev/msgslot
CC ?= gcc
CLI_CFLAGS ?= -O3 -Wall -Wextra -std=c11
CLIS := message_sender message_reader

.PHONY: all module clis clean load unload install check demo bench

all: module clis

module:
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

clis: $(CLIS)

$(CLIS): %: %.c message_slot.h
	$(CC) $(CLI_CFLAGS) $< -o $@

clean:
	$(MAKE) -C $(KDIR) M=$(CURDIR) clean 2>/dev/null || \
		rm -f *.o *.ko *.mod *.mod.c .*.cmd modules.order Module.symvers
	rm -f $(CLIS)

load:
	insmod message_slot.ko
	test -e $(DEVICE) || mknod -m 0666 $(DEVICE) c 235 0

unload:
	rmmod message_slot
	rm -f $(DEVICE)

install: all
	$(MAKE) -C $(KDIR) M=$(CURDIR) INSTALL_MOD_PATH=$(DESTDIR) modules_install
	depmod -a $(if $(DESTDIR),-b $(DESTDIR)) \
		$$(cat $(KDIR)/include/config/kernel.release)
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(CLIS) $(DESTDIR)$(PREFIX)/bin/

check:
	tests/vm/run-suite.sh

demo:
	tests/vm/demo.sh

bench:
	bench/run.sh

.PHONY: examples
examples:
	$(MAKE) -C examples

endif
