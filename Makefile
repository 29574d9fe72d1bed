# SPDX-License-Identifier: GPL-2.0
#
# `make help` lists the targets and variables.

ifneq ($(KERNELRELEASE),)
# Kbuild half: invoked by the kernel's build system.
obj-m := message_slot.o
else

KDIR ?= /lib/modules/$(shell uname -r)/build
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
MANDIR ?= $(PREFIX)/share/man
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(PREFIX)/share/pkgconfig
UDEVRULESDIR ?= /etc/udev/rules.d
UDEV_MODE ?= 0666
UDEV_GROUP ?= root
DEVICE ?= /dev/msgslot
CC ?= gcc
CLI_CFLAGS ?= -O3 -Wall -Wextra -std=c11
CLIS := message_sender message_reader
MAN_PAGES := man/message_sender.1 man/message_reader.1 man/npheap.3 man/message_slot.4
UDEV_RULE := 60-message_slot.rules
PC_FILE := message_slot.pc
DKMS_NAME := message_slot
# One version, MSG_SLOT_VERSION of message_slot.h (dkms.conf repeats it).
VERSION := $(shell sed -n 's/^\#define MSG_SLOT_VERSION[[:space:]]*"\(.*\)"$$/\1/p' message_slot.h)
DKMS_VERSION := $(VERSION)
# What DKMS needs to build the module (its sources and the kbuild half).
DKMS_FILES := dkms.conf Makefile message_slot.c message_slot.h
# The course submission: these five files alone build the module and the
# CLIs (make, make clean); every other target needs the full source tree.
SUBMISSION_FILES := message_slot.c message_slot.h message_sender.c \
	message_reader.c Makefile
ID ?= 000000000
ZIP ?= ex3_$(ID).zip
# The commit packed (tests pass `git stash create` to pack a work tree).
REV ?= HEAD
# $(call need_tree,path): stop with a clear message when path is missing.
need_tree = @[ -e $(1) ] || { echo "message_slot: 'make $@' needs the full \
source tree ($(1) is not here); the five submission files build only the \
module and the CLIs (make, make clean)" >&2; exit 2; }

# The release the tree was built for, as the kernel reports it: Debian's
# headers say 6.1.192 in include/config/kernel.release but install into
# /lib/modules/6.1.0-57-cloud-amd64 (the UTS release).
KRELEASE ?= $(shell sed -n 's/^\#define UTS_RELEASE "\(.*\)"$$/\1/p' \
		$(KDIR)/include/generated/utsrelease.h 2>/dev/null)
# Module indexes are rebuilt on a live install; never written into a
# DESTDIR stage unless asked (DEPMOD=1), where they would list only this
# module and clobber the system's index once copied over.
DEPMOD ?= $(if $(DESTDIR),0,1)
# Without the kernel's signing key kbuild's signing step only prints
# errors: skip it (DKMS signs with its own key where Secure Boot needs it).
NOSIGN := $(if $(wildcard $(KDIR)/certs/signing_key.pem),,CONFIG_MODULE_SIG_ALL=)

.PHONY: all module modules modules_install clis clean load unload install \
	uninstall install-user uninstall-user dkms-install dkms-uninstall check \
	demo bench help have-kdir submission examples deb docs print-dkms-files \
	grade

all: clis module

help:
	@echo 'Targets (see README.md; how long each takes: tests/README.md, "Where the time goes"):'
	@echo '  make                  the CLIs and message_slot.ko for KDIR'
	@echo '  make module|modules   only the module; make clis: only the CLIs'
	@echo '  make demo             boot a VM, show a message round trip'
	@echo '  make check            the whole test suite in QEMU VMs'
	@echo '  make bench            benchmarks'
	@echo '  make examples         examples/: one record through a file, NP-Heap and a slot'
	@echo '  sudo make install     module + depmod, and all of install-user'
	@echo '  sudo make install-user   CLIs, man pages, message_slot.h + message_slot.pc,'
	@echo '                        udev rule (no kernel headers needed)'
	@echo '  sudo make uninstall | uninstall-user   undo install | install-user'
	@echo '  make modules_install  kbuild'"'"'s module install only'
	@echo '  sudo make dkms-install | dkms-uninstall   register the module with DKMS'
	@echo '  sudo make load | unload   insmod + mknod $(DEVICE), and the reverse'
	@echo '  make deb              Debian packages message-slot-dkms and message-slot-utils'
	@echo '                        in build/deb/ (dpkg-buildpackage, debhelper, dh-dkms)'
	@echo '  make docs             regenerate the module-parameter tables of the docs'
	@echo '  make clean            remove every build output (build/ too)'
	@echo '  make submission ID=<id>   the course ZIP ex3_<id>.zip: the five committed files'
	@echo '  make grade SUB=<folder|zip|class folder> [OUT=] [KERNELS=] [RUBRIC=]   grade submissions in VMs'
	@echo 'Variables:'
	@echo '  KDIR=$(KDIR)'
	@echo '  PREFIX=$(PREFIX)  BINDIR=$(BINDIR)  MANDIR=$(MANDIR)'
	@echo '  INCLUDEDIR=$(INCLUDEDIR)  PKGCONFIGDIR=$(PKGCONFIGDIR)'
	@echo '  DESTDIR= (stage the install)  DEPMOD=1 (module index into DESTDIR too)'
	@echo '  UDEVRULESDIR=$(UDEVRULESDIR)  UDEV_MODE=$(UDEV_MODE)  UDEV_GROUP=$(UDEV_GROUP)'
	@echo '  DKMS_KERNEL= (dkms-install for this kernel release instead of the running one)'
	@echo '  DEVICE=$(DEVICE) (make load)'

have-kdir:
	@if [ ! -f "$(KDIR)/Makefile" ]; then \
		echo "message_slot: no kernel build tree at $(KDIR): the module was not built."; \
		echo "  Install the headers of the running kernel (Debian/Ubuntu:" \
		     "sudo apt-get install linux-headers-$$(uname -r))"; \
		echo "  or pass the build tree of another kernel: make KDIR=/path/to/build"; \
		exit 2; \
	fi

module modules: have-kdir
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

modules_install: modules
	@[ -n "$(KRELEASE)" ] || { echo "message_slot: no UTS_RELEASE in $(KDIR)/include/generated/utsrelease.h" >&2; exit 2; }
	$(MAKE) -C $(KDIR) M=$(CURDIR) KERNELRELEASE=$(KRELEASE) $(NOSIGN) \
		INSTALL_MOD_PATH=$(DESTDIR) DEPMOD=true modules_install

clis: $(CLIS)

$(CLIS): %: %.c message_slot.h
	$(CC) $(CLI_CFLAGS) $(LDFLAGS) $< -o $@

clean:
	$(MAKE) -C $(KDIR) M=$(CURDIR) clean 2>/dev/null || \
		rm -f *.o *.ko *.mod *.mod.c .*.cmd modules.order Module.symvers
	@# kbuild of 6.12 leaves its .module-common.o behind on M= clean.
	rm -f .module-common.o
	rm -f $(CLIS)
	rm -rf build
	for dir in npheap_shim dsm examples; do \
		[ ! -f $$dir/Makefile ] || $(MAKE) -C $$dir clean || exit 1; \
	done

load:
	insmod message_slot.ko
	test -e $(DEVICE) || mknod -m 0666 $(DEVICE) c 235 0

unload:
	rmmod message_slot
	rm -f $(DEVICE)

# The module (with its index rebuilt) and everything of install-user.
install: install-user modules_install
	if [ "$(DEPMOD)" = 1 ]; then \
		depmod -a $(if $(DESTDIR),-b $(DESTDIR)) $(KRELEASE); fi

# What user space needs, without kernel headers: the CLIs, man pages,
# message_slot.h with its pkg-config file, the udev rule.
install-user: clis
	$(call need_tree,man)
	$(call need_tree,udev)
	$(call need_tree,$(PC_FILE).in)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
		$(DESTDIR)$(MANDIR)/man3 $(DESTDIR)$(MANDIR)/man4 \
		$(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR) \
		$(DESTDIR)$(UDEVRULESDIR)
	install -m 0755 $(CLIS) $(DESTDIR)$(BINDIR)/
	for page in $(MAN_PAGES); do \
		sec=$${page##*.}; \
		install -m 0644 $$page $(DESTDIR)$(MANDIR)/man$$sec/ || exit 1; \
	done
	install -m 0644 message_slot.h $(DESTDIR)$(INCLUDEDIR)/message_slot.h
	sed -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' \
		$(PC_FILE).in > $(DESTDIR)$(PKGCONFIGDIR)/$(PC_FILE)
	chmod 0644 $(DESTDIR)$(PKGCONFIGDIR)/$(PC_FILE)
	sed -e 's/@MODE@/$(UDEV_MODE)/' -e 's/@GROUP@/$(UDEV_GROUP)/' \
		udev/$(UDEV_RULE).in > $(DESTDIR)$(UDEVRULESDIR)/$(UDEV_RULE)
	chmod 0644 $(DESTDIR)$(UDEVRULESDIR)/$(UDEV_RULE)
	@# A live system picks the rule up at once; a stage has no udev.
	if [ -z "$(DESTDIR)" ] && command -v udevadm >/dev/null; then \
		udevadm control --reload 2>/dev/null || true; fi

uninstall: uninstall-user
	@[ -n "$(KRELEASE)" ] || { echo "message_slot: no UTS_RELEASE in $(KDIR)/include/generated/utsrelease.h: pass KDIR= or KRELEASE=" >&2; exit 2; }
	rm -f $(DESTDIR)/lib/modules/$(KRELEASE)/extra/message_slot.ko* \
		$(DESTDIR)/lib/modules/$(KRELEASE)/updates/message_slot.ko*
	if [ "$(DEPMOD)" = 1 ]; then \
		depmod -a $(if $(DESTDIR),-b $(DESTDIR)) $(KRELEASE); fi

uninstall-user:
	rm -f $(addprefix $(DESTDIR)$(BINDIR)/,$(CLIS))
	for page in $(MAN_PAGES); do \
		sec=$${page##*.}; rm -f $(DESTDIR)$(MANDIR)/man$$sec/$${page##*/}; \
	done
	rm -f $(DESTDIR)$(INCLUDEDIR)/message_slot.h \
		$(DESTDIR)$(PKGCONFIGDIR)/$(PC_FILE) \
		$(DESTDIR)$(UDEVRULESDIR)/$(UDEV_RULE)

# DKMS builds from /usr/src/<name>-<version>: copy the module's sources there.
dkms-install:
	$(call need_tree,dkms.conf)
	@command -v dkms >/dev/null || { echo "message_slot: dkms is not installed (Debian/Ubuntu: sudo apt-get install dkms)" >&2; exit 2; }
	rm -rf /usr/src/$(DKMS_NAME)-$(DKMS_VERSION)
	for f in $(DKMS_FILES); do \
		install -D -m 0644 $$f /usr/src/$(DKMS_NAME)-$(DKMS_VERSION)/$$f || exit 1; \
	done
	dkms add $(DKMS_NAME)/$(DKMS_VERSION)
	dkms build $(DKMS_NAME)/$(DKMS_VERSION) $(if $(DKMS_KERNEL),-k $(DKMS_KERNEL))
	dkms install $(DKMS_NAME)/$(DKMS_VERSION) $(if $(DKMS_KERNEL),-k $(DKMS_KERNEL))

dkms-uninstall:
	dkms remove $(DKMS_NAME)/$(DKMS_VERSION) --all
	rm -rf /usr/src/$(DKMS_NAME)-$(DKMS_VERSION)

# The Debian packages message-slot-dkms and message-slot-utils, built by
# dpkg-buildpackage from a copy of the tracked files into build/deb/.
DEB_DIR := build/deb
deb:
	$(call need_tree,debian/rules)
	@command -v dpkg-buildpackage >/dev/null && command -v dh_dkms >/dev/null || { \
		echo "message_slot: 'make deb' needs dpkg-dev, debhelper and dh-dkms (sudo apt-get install --no-install-recommends dpkg-dev debhelper dh-dkms fakeroot)" >&2; exit 2; }
	rm -rf $(DEB_DIR) && mkdir -p $(DEB_DIR)/message-slot-$(VERSION)
	git ls-files -z 2>/dev/null | xargs -0 cp --parents -t $(DEB_DIR)/message-slot-$(VERSION) || \
		tar --exclude=./build --exclude=./.git -cf - . | tar -C $(DEB_DIR)/message-slot-$(VERSION) -xf -
	cd $(DEB_DIR)/message-slot-$(VERSION) && dpkg-buildpackage -us -uc -b
	@ls $(DEB_DIR)/*.deb

# The module-parameter tables of README.md and message_slot(4), from the
# MODULE_PARM_DESC texts of message_slot.c (tests/host/17-docs.sh checks).
docs:
	$(call need_tree,man/gen-params.py)
	man/gen-params.py

# For debian/rules: what DKMS needs, one file a word.
print-dkms-files:
	@echo $(DKMS_FILES)

check:
	$(call need_tree,tests/vm/run-suite.sh)
	tests/vm/run-suite.sh

demo:
	$(call need_tree,tests/vm/demo.sh)
	tests/vm/demo.sh

bench:
	$(call need_tree,bench/run.sh)
	bench/run.sh

# grade/README.md; SEED= and TESTS= are passed on too.
grade:
	$(call need_tree,grade/msgslot-grade)
	@[ -n "$(SUB)" ] || { echo "usage: make grade SUB=<folder, .zip or folder of them> [OUT=<dir>] [KERNELS=\"6.1 6.12\"] [RUBRIC=<file>]" >&2; exit 2; }
	grade/msgslot-grade $(if $(OUT),--out "$(OUT)") $(if $(KERNELS),--kernels "$(KERNELS)") \
		$(if $(RUBRIC),--rubric "$(RUBRIC)") $(if $(SEED),--seed "$(SEED)") \
		$(if $(TESTS),--tests "$(TESTS)") "$(SUB)"

examples:
	$(call need_tree,examples)
	$(MAKE) -C examples

# Packs the committed files (git archive: the same bytes for the same
# commit), so the ZIP is what CI builds and tests.
submission:
	@git rev-parse --show-toplevel >/dev/null 2>&1 || { echo "message_slot: \
'make submission' packs committed files and needs the git checkout" >&2; exit 2; }
	@git diff --quiet $(REV) -- $(SUBMISSION_FILES) || echo "message_slot: \
warning: uncommitted changes to the five files are not in $(ZIP)" >&2
	git archive --format=zip -o $(ZIP) $(REV) $(SUBMISSION_FILES)
	@echo "message_slot: wrote $(ZIP) ($(words $(SUBMISSION_FILES)) files)"

endif
