/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * vfiopin_test_mdev.h: the user-space interface of the vfiopin test mediated device
 * (tests/kmod/vfiopin_test_mdev.c). Plain C, usable from C and C++ in user space and from
 * the module.
 *
 * Theory of operation: the module registers one mdev parent, "vfiopin_test_mdev", with one
 * type; every instance created through sysfs is an emulated-IOMMU vfio device. Its device
 * fd (VFIO_GROUP_GET_DEVICE_FD with the instance's UUID) takes the private ioctls below,
 * which put the kernel's external-pinning paths in reach of a test:
 *   PIN            vfio_pin_pages(iova, npage, prot): per page, whether a page pointer came
 *                  back, whether its pfn (page_to_pfn, the page is never dereferenced) is
 *                  pfn_valid, and the pfn. All or nothing, like vfio_pin_pages.
 *   UNPIN          vfio_unpin_pages(iova, npage).
 *   DMA_RW         vfio_dma_rw through a kernel bounce buffer (at most 1 MiB).
 *   GET_UNMAP_LOG  the dma_unmap callbacks received (iova, length, pages the module
 *                  unpinned in response), optionally clearing the log.
 *   SET_MODE       0: unpin every page held in the notified range before returning (what
 *                  the type1 contract demands); KEEP_PINS: keep them (misbehave: type1
 *                  retries the notification and then hits BUG_ON; see
 *                  linux-type1-semantics.md section 3.3).
 *   STATUS         the pages the module holds pinned, and the mode.
 * The ioctl return value is 0 or -1 with errno; PIN also stores vfio_pin_pages' own return
 * value in `result`.
 */
#ifndef VFIOPIN_TEST_MDEV_H
#define VFIOPIN_TEST_MDEV_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define VFIOPIN_TEST_MDEV_PARENT "vfiopin_test_mdev"
/* The type's directory under mdev_supported_types is "<parent driver>-<this>". */
#define VFIOPIN_TEST_MDEV_TYPE "pin"

/* prot of PIN: the kernel's IOMMU_READ / IOMMU_WRITE (= VFIO_DMA_MAP_FLAG_READ / _WRITE). */
#define VFIOPIN_TEST_MDEV_PROT_READ 0x1u
#define VFIOPIN_TEST_MDEV_PROT_WRITE 0x2u

/* More pages than this in one PIN: E2BIG from the module (the kernel's own limit is 512). */
#define VFIOPIN_TEST_MDEV_MAX_PIN 1024
/* More bytes than this in one DMA_RW: E2BIG from the module. */
#define VFIOPIN_TEST_MDEV_MAX_RW (1u << 20)
/* Entries the unmap log keeps; later callbacks are counted in `dropped`. */
#define VFIOPIN_TEST_MDEV_LOG_SIZE 256

/* vfiopin_test_mdev_page.flags */
#define VFIOPIN_TEST_MDEV_PAGE_NONNULL 0x1u   /* a non-NULL struct page * came back */
#define VFIOPIN_TEST_MDEV_PAGE_PFN_VALID 0x2u /* pfn_valid(page_to_pfn(page)) */

struct vfiopin_test_mdev_page {
	__u64 pfn;   /* page_to_pfn(page); 0 if the pointer was NULL */
	__u32 flags; /* VFIOPIN_TEST_MDEV_PAGE_* */
	__u32 reserved;
};

struct vfiopin_test_mdev_pin {
	__u64 iova;
	__s32 npage;  /* passed to vfio_pin_pages as is (0 and negatives too) */
	__u32 prot;   /* VFIOPIN_TEST_MDEV_PROT_* */
	__u64 pages;  /* user pointer: struct vfiopin_test_mdev_page[max(npage, 0)], out */
	__s32 result; /* out: vfio_pin_pages' return value (npage, or -errno) */
	__u32 reserved;
};

struct vfiopin_test_mdev_unpin {
	__u64 iova;
	__s32 npage; /* 1..512, else EINVAL from the module (the kernel would WARN) */
	__u32 reserved;
};

struct vfiopin_test_mdev_dma_rw {
	__u64 iova;
	__u64 len;   /* bytes, at most VFIOPIN_TEST_MDEV_MAX_RW */
	__u64 data;  /* user pointer to len bytes: source of a write, destination of a read */
	__u32 write; /* 0: read from the IOVA into data; 1: write data to the IOVA */
	__u32 reserved;
};

struct vfiopin_test_mdev_unmap_entry {
	__u64 iova;
	__u64 length;
	__u32 unpinned; /* pages the module unpinned in response (0 in KEEP_PINS mode) */
	__u32 reserved;
};

#define VFIOPIN_TEST_MDEV_LOG_CLEAR 0x1u

struct vfiopin_test_mdev_unmap_log {
	__u64 entries;  /* user pointer: struct vfiopin_test_mdev_unmap_entry[capacity], out */
	__u32 capacity; /* in */
	__u32 flags;    /* in: VFIOPIN_TEST_MDEV_LOG_CLEAR clears the log after copying */
	__u32 count;    /* out: entries in the log (copied: min(count, capacity)) */
	__u32 dropped;  /* out: callbacks not logged because the log was full */
};

#define VFIOPIN_TEST_MDEV_MODE_DEFAULT 0u
#define VFIOPIN_TEST_MDEV_MODE_KEEP_PINS 1u

struct vfiopin_test_mdev_status {
	__u64 pinned_iovas; /* distinct IOVAs the module holds pinned */
	__u64 pin_refs;     /* pins held (an IOVA pinned twice counts twice) */
	__u32 mode;
	__u32 unmap_calls;  /* dma_unmap callbacks since the device was opened */
};

#define VFIOPIN_TEST_MDEV_MAGIC 'T'
#define VFIOPIN_TEST_MDEV_PIN _IOWR(VFIOPIN_TEST_MDEV_MAGIC, 0xe0, struct vfiopin_test_mdev_pin)
#define VFIOPIN_TEST_MDEV_UNPIN _IOW(VFIOPIN_TEST_MDEV_MAGIC, 0xe1, struct vfiopin_test_mdev_unpin)
#define VFIOPIN_TEST_MDEV_DMA_RW _IOW(VFIOPIN_TEST_MDEV_MAGIC, 0xe2, struct vfiopin_test_mdev_dma_rw)
#define VFIOPIN_TEST_MDEV_GET_UNMAP_LOG \
	_IOWR(VFIOPIN_TEST_MDEV_MAGIC, 0xe3, struct vfiopin_test_mdev_unmap_log)
#define VFIOPIN_TEST_MDEV_SET_MODE _IOW(VFIOPIN_TEST_MDEV_MAGIC, 0xe4, __u32)
#define VFIOPIN_TEST_MDEV_STATUS _IOR(VFIOPIN_TEST_MDEV_MAGIC, 0xe5, struct vfiopin_test_mdev_status)

#endif /* VFIOPIN_TEST_MDEV_H */
