// SPDX-License-Identifier: GPL-2.0
/*
 * vfiopin_test_mdev: a test mediated device for the vfiopin project's QEMU test bed.
 *
 * Theory of operation. The module registers one mdev parent, a bare device of its own
 * class "vfiopin_test_mdev" (so /sys/class/mdev_bus/vfiopin_test_mdev), with one type,
 * "vfiopin_test_mdev-pin". Writing a UUID to the type's `create` makes an instance; its
 * probe allocates a vfio_device and registers it with vfio_register_emulated_iommu_dev,
 * so the instance gets an emulated IOMMU group and, in a type1 container, takes the
 * external-pinning paths: vfio_pin_pages, vfio_unpin_pages, vfio_dma_rw and the
 * dma_unmap callback. The device fd takes the private ioctls of vfiopin_test_mdev.h and
 * nothing else (no regions, no interrupts).
 *
 * Pins are tracked per IOVA (type1 keys its records on the exact IOVA it was given), with
 * a reference count: a PIN of n pages adds one reference to each of iova + k * PAGE_SIZE.
 * A dma_unmap(iova, length) callback is logged and, in the default mode, releases every
 * reference held on an IOVA inside [iova, iova + length) before returning, as type1
 * requires; in KEEP_PINS mode it releases nothing (type1 then retries and, after more than
 * ten notifications of the same mapping, BUG()s: a test of that needs its own guest boot).
 * close_device releases every pin left, whatever the mode.
 *
 * The pages vfio_pin_pages returns are never dereferenced: the module reports whether the
 * pointer is non-NULL, its page_to_pfn (address arithmetic) and whether that pfn is
 * pfn_valid, which is how a pfn without a struct page (a PFNMAP BAR on kernels before
 * "vfio/type1: check pfn valid before converting to struct page") shows.
 *
 * Kernel API: 6.1 (Debian's 6.1 carries the 6.2 mdev_register_parent API) and 6.12. The
 * differences: 6.1's release op must call vfio_free_device; 6.2+ has the iommufd ops.
 * Lock order: tm_state.lock, then type1's locks (taken inside vfio_pin/unpin_pages); type1
 * calls dma_unmap with its own iommu lock dropped, so the callback may take tm_state.lock.
 */
#include <linux/device.h>
#include <linux/iommu.h>
#include <linux/list.h>
#include <linux/mdev.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/version.h>
#include <linux/vfio.h>

#include "vfiopin_test_mdev.h"

/* Distinct IOVAs one instance may hold pinned (bounds the module's memory). */
#define TM_MAX_RECORDS 65536
#define TM_MAX_UNPIN 512

struct tm_pin {
	struct list_head node;
	u64 iova;
	unsigned int refs;
};

struct tm_state {
	struct vfio_device vdev; /* first: vfio_alloc_device requires offset 0 */
	struct mutex lock;       /* everything below */
	struct list_head pins;
	u64 pinned_iovas;
	u64 pin_refs;
	u32 mode;
	u32 unmap_calls;
	u32 log_count;
	u32 log_dropped;
	struct vfiopin_test_mdev_unmap_entry log[VFIOPIN_TEST_MDEV_LOG_SIZE];
};

static struct tm_state *tm_of(struct vfio_device *vdev)
{
	return container_of(vdev, struct tm_state, vdev);
}

static struct tm_pin *tm_find(struct tm_state *st, u64 iova)
{
	struct tm_pin *pin;

	list_for_each_entry(pin, &st->pins, node)
		if (pin->iova == iova)
			return pin;
	return NULL;
}

/* Releases every reference held on an IOVA in [first, last]; returns how many. */
static u32 tm_release_range(struct tm_state *st, u64 first, u64 last)
{
	struct tm_pin *pin, *next;
	u32 released = 0;

	lockdep_assert_held(&st->lock);
	list_for_each_entry_safe(pin, next, &st->pins, node) {
		if (pin->iova < first || pin->iova > last)
			continue;
		while (pin->refs > 0) {
			vfio_unpin_pages(&st->vdev, pin->iova, 1);
			pin->refs--;
			st->pin_refs--;
			released++;
		}
		list_del(&pin->node);
		st->pinned_iovas--;
		kfree(pin);
	}
	return released;
}

static int tm_init(struct vfio_device *vdev)
{
	struct tm_state *st = tm_of(vdev);

	mutex_init(&st->lock);
	INIT_LIST_HEAD(&st->pins);
	return 0;
}

static void tm_release(struct vfio_device *vdev)
{
	struct tm_state *st = tm_of(vdev);

	WARN_ON(!list_empty(&st->pins));
	mutex_destroy(&st->lock);
#if LINUX_VERSION_CODE < KERNEL_VERSION(6, 2, 0)
	vfio_free_device(vdev);
#endif
}

static int tm_open_device(struct vfio_device *vdev)
{
	struct tm_state *st = tm_of(vdev);

	mutex_lock(&st->lock);
	st->mode = VFIOPIN_TEST_MDEV_MODE_DEFAULT;
	st->unmap_calls = 0;
	st->log_count = 0;
	st->log_dropped = 0;
	mutex_unlock(&st->lock);
	return 0;
}

static void tm_close_device(struct vfio_device *vdev)
{
	struct tm_state *st = tm_of(vdev);

	mutex_lock(&st->lock);
	tm_release_range(st, 0, U64_MAX);
	mutex_unlock(&st->lock);
}

static void tm_dma_unmap(struct vfio_device *vdev, u64 iova, u64 length)
{
	struct tm_state *st = tm_of(vdev);
	u32 released = 0;

	mutex_lock(&st->lock);
	st->unmap_calls++;
	if (st->mode != VFIOPIN_TEST_MDEV_MODE_KEEP_PINS && length > 0)
		released = tm_release_range(st, iova, iova + (length - 1));
	else
		/* Logged to the kernel log too: after the kernel BUG()s, user space
		 * can no longer ask the device for its log. */
		pr_info("vfiopin_test_mdev: dma_unmap 0x%llx+0x%llx: pins kept (%u)\n",
			iova, length, st->unmap_calls);
	if (st->log_count < VFIOPIN_TEST_MDEV_LOG_SIZE) {
		struct vfiopin_test_mdev_unmap_entry *e = &st->log[st->log_count++];

		e->iova = iova;
		e->length = length;
		e->unpinned = released;
		e->reserved = 0;
	} else {
		st->log_dropped++;
	}
	mutex_unlock(&st->lock);
}

static long tm_ioctl_pin(struct tm_state *st, void __user *uarg)
{
	struct vfiopin_test_mdev_pin arg;
	struct vfiopin_test_mdev_page *out = NULL;
	struct page **pages = NULL;
	struct tm_pin *spare, *next;
	LIST_HEAD(spares);
	int n, cnt, k, done = 0, ret;

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	n = arg.npage;
	if (n > VFIOPIN_TEST_MDEV_MAX_PIN)
		return -E2BIG;
	/* 0 and negative counts go to the kernel as they are, with a one-entry array. */
	cnt = n > 0 ? n : 1;
	pages = kcalloc(cnt, sizeof(*pages), GFP_KERNEL);
	out = kcalloc(cnt, sizeof(*out), GFP_KERNEL);
	ret = pages && out ? 0 : -ENOMEM;
	/* Records for every page, before pinning: nothing can fail after the pin. */
	for (k = 0; ret == 0 && k < n; k++) {
		spare = kzalloc(sizeof(*spare), GFP_KERNEL);
		if (!spare)
			ret = -ENOMEM;
		else
			list_add(&spare->node, &spares);
	}
	if (ret)
		goto out_free;

	mutex_lock(&st->lock);
	if (n > 0 && st->pinned_iovas + n > TM_MAX_RECORDS) {
		mutex_unlock(&st->lock);
		ret = -ENOSPC;
		goto out_free;
	}
	ret = vfio_pin_pages(&st->vdev, arg.iova, n, arg.prot, pages);
	arg.result = ret;
	done = ret > 0 ? min(ret, n) : 0;
	for (k = 0; k < done; k++) {
		u64 iova = arg.iova + (u64)k * PAGE_SIZE;
		struct tm_pin *pin = tm_find(st, iova);

		if (!pin) {
			pin = list_first_entry(&spares, struct tm_pin, node);
			list_del(&pin->node);
			pin->iova = iova;
			list_add_tail(&pin->node, &st->pins);
			st->pinned_iovas++;
		}
		pin->refs++;
		st->pin_refs++;
		if (pages[k]) {
			unsigned long pfn = page_to_pfn(pages[k]);

			out[k].pfn = pfn;
			out[k].flags = VFIOPIN_TEST_MDEV_PAGE_NONNULL |
				       (pfn_valid(pfn) ? VFIOPIN_TEST_MDEV_PAGE_PFN_VALID : 0);
		}
	}
	mutex_unlock(&st->lock);

	/* A fault here leaves the pins held (and recorded): UNPIN or close releases them. */
	if (done > 0 && copy_to_user(u64_to_user_ptr(arg.pages), out, done * sizeof(*out)))
		ret = -EFAULT;
	else if (copy_to_user(uarg, &arg, sizeof(arg)))
		ret = -EFAULT;
	else
		ret = ret < 0 ? ret : 0;
out_free:
	list_for_each_entry_safe(spare, next, &spares, node)
		kfree(spare);
	kfree(out);
	kfree(pages);
	return ret;
}

static long tm_ioctl_unpin(struct tm_state *st, void __user *uarg)
{
	struct vfiopin_test_mdev_unpin arg;
	int k;

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	if (arg.npage <= 0 || arg.npage > TM_MAX_UNPIN)
		return -EINVAL;
	mutex_lock(&st->lock);
	vfio_unpin_pages(&st->vdev, arg.iova, arg.npage);
	for (k = 0; k < arg.npage; k++) {
		struct tm_pin *pin = tm_find(st, arg.iova + (u64)k * PAGE_SIZE);

		if (!pin)
			continue;
		pin->refs--;
		st->pin_refs--;
		if (pin->refs == 0) {
			list_del(&pin->node);
			st->pinned_iovas--;
			kfree(pin);
		}
	}
	mutex_unlock(&st->lock);
	return 0;
}

static long tm_ioctl_dma_rw(struct tm_state *st, void __user *uarg)
{
	struct vfiopin_test_mdev_dma_rw arg;
	void __user *data;
	void *buf;
	int ret;

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	if (arg.len > VFIOPIN_TEST_MDEV_MAX_RW)
		return -E2BIG;
	data = u64_to_user_ptr(arg.data);
	buf = kvzalloc(arg.len ? arg.len : 1, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	if (arg.write && copy_from_user(buf, data, arg.len)) {
		ret = -EFAULT;
		goto out;
	}
	ret = vfio_dma_rw(&st->vdev, arg.iova, buf, arg.len, arg.write != 0);
	if (ret == 0 && !arg.write && copy_to_user(data, buf, arg.len))
		ret = -EFAULT;
out:
	kvfree(buf);
	return ret;
}

static long tm_ioctl_unmap_log(struct tm_state *st, void __user *uarg)
{
	struct vfiopin_test_mdev_unmap_log arg;
	u32 n;
	int ret = 0;

	if (copy_from_user(&arg, uarg, sizeof(arg)))
		return -EFAULT;
	if (arg.flags & ~VFIOPIN_TEST_MDEV_LOG_CLEAR)
		return -EINVAL;
	mutex_lock(&st->lock);
	n = min(arg.capacity, st->log_count);
	if (n && copy_to_user(u64_to_user_ptr(arg.entries), st->log, n * sizeof(st->log[0])))
		ret = -EFAULT;
	arg.count = st->log_count;
	arg.dropped = st->log_dropped;
	if (ret == 0 && (arg.flags & VFIOPIN_TEST_MDEV_LOG_CLEAR)) {
		st->log_count = 0;
		st->log_dropped = 0;
	}
	mutex_unlock(&st->lock);
	if (ret == 0 && copy_to_user(uarg, &arg, sizeof(arg)))
		ret = -EFAULT;
	return ret;
}

static long tm_ioctl(struct vfio_device *vdev, unsigned int cmd, unsigned long arg)
{
	struct tm_state *st = tm_of(vdev);
	void __user *uarg = (void __user *)arg;

	switch (cmd) {
	case VFIOPIN_TEST_MDEV_PIN:
		return tm_ioctl_pin(st, uarg);
	case VFIOPIN_TEST_MDEV_UNPIN:
		return tm_ioctl_unpin(st, uarg);
	case VFIOPIN_TEST_MDEV_DMA_RW:
		return tm_ioctl_dma_rw(st, uarg);
	case VFIOPIN_TEST_MDEV_GET_UNMAP_LOG:
		return tm_ioctl_unmap_log(st, uarg);
	case VFIOPIN_TEST_MDEV_SET_MODE: {
		u32 mode;

		if (get_user(mode, (u32 __user *)uarg))
			return -EFAULT;
		if (mode > VFIOPIN_TEST_MDEV_MODE_KEEP_PINS)
			return -EINVAL;
		mutex_lock(&st->lock);
		st->mode = mode;
		mutex_unlock(&st->lock);
		return 0;
	}
	case VFIOPIN_TEST_MDEV_STATUS: {
		struct vfiopin_test_mdev_status status = {};

		mutex_lock(&st->lock);
		status.pinned_iovas = st->pinned_iovas;
		status.pin_refs = st->pin_refs;
		status.mode = st->mode;
		status.unmap_calls = st->unmap_calls;
		mutex_unlock(&st->lock);
		return copy_to_user(uarg, &status, sizeof(status)) ? -EFAULT : 0;
	}
	}
	return -ENOTTY;
}

static const struct vfio_device_ops tm_ops = {
	.name = "vfiopin-test-mdev",
	.init = tm_init,
	.release = tm_release,
	.open_device = tm_open_device,
	.close_device = tm_close_device,
	.ioctl = tm_ioctl,
	.dma_unmap = tm_dma_unmap,
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 2, 0)
	.bind_iommufd = vfio_iommufd_emulated_bind,
	.unbind_iommufd = vfio_iommufd_emulated_unbind,
	.attach_ioas = vfio_iommufd_emulated_attach_ioas,
	.detach_ioas = vfio_iommufd_emulated_detach_ioas,
#endif
};

static int tm_probe(struct mdev_device *mdev)
{
	struct tm_state *st;
	int ret;

	st = vfio_alloc_device(tm_state, vdev, &mdev->dev, &tm_ops);
	if (IS_ERR(st))
		return PTR_ERR(st);
	ret = vfio_register_emulated_iommu_dev(&st->vdev);
	if (ret) {
		vfio_put_device(&st->vdev);
		return ret;
	}
	dev_set_drvdata(&mdev->dev, st);
	return 0;
}

static void tm_remove(struct mdev_device *mdev)
{
	struct tm_state *st = dev_get_drvdata(&mdev->dev);

	vfio_unregister_group_dev(&st->vdev);
	vfio_put_device(&st->vdev);
}

static struct mdev_driver tm_driver = {
	.device_api = "vfiopin-test",
	.max_instances = 8,
	.driver = {
		.name = VFIOPIN_TEST_MDEV_PARENT,
		.owner = THIS_MODULE,
		.mod_name = KBUILD_MODNAME,
	},
	.probe = tm_probe,
	.remove = tm_remove,
};

static struct class tm_class = {
	.name = VFIOPIN_TEST_MDEV_PARENT,
};

static void tm_parent_release(struct device *dev)
{
	/* static object: nothing to free */
}

static struct device tm_parent_dev = {
	.release = tm_parent_release,
};
static struct mdev_parent tm_parent;
static struct mdev_type tm_type = {
	.sysfs_name = VFIOPIN_TEST_MDEV_TYPE,
	.pretty_name = "vfiopin test mdev (pin, dma_rw, unmap log)",
};
static struct mdev_type *tm_types[] = { &tm_type };

static int __init tm_module_init(void)
{
	int ret;

	ret = mdev_register_driver(&tm_driver);
	if (ret)
		return ret;
	ret = class_register(&tm_class);
	if (ret)
		goto err_driver;
	tm_parent_dev.class = &tm_class;
	dev_set_name(&tm_parent_dev, "%s", VFIOPIN_TEST_MDEV_PARENT);
	ret = device_register(&tm_parent_dev);
	if (ret) {
		put_device(&tm_parent_dev);
		goto err_class;
	}
	ret = mdev_register_parent(&tm_parent, &tm_parent_dev, &tm_driver, tm_types,
				   ARRAY_SIZE(tm_types));
	if (ret)
		goto err_device;
	return 0;

err_device:
	device_unregister(&tm_parent_dev);
err_class:
	class_unregister(&tm_class);
err_driver:
	mdev_unregister_driver(&tm_driver);
	return ret;
}

static void __exit tm_module_exit(void)
{
	mdev_unregister_parent(&tm_parent);
	device_unregister(&tm_parent_dev);
	class_unregister(&tm_class);
	mdev_unregister_driver(&tm_driver);
}

module_init(tm_module_init);
module_exit(tm_module_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("vfiopin test mediated device: vfio_pin_pages, vfio_dma_rw, dma_unmap log");
