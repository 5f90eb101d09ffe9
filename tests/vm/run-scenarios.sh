#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
#
# run-scenarios.sh DIR: inside the test bed guest, run every DIR/*.vfs on real VFIO with
# `vfiopin-replay --backend vfio --check`, one file at a time, and print one line per file:
#   PASS file
#   FAIL file        (followed by vfiopin-replay's mismatch report)
#   NOT-RUN file     (its `# requires:` line names what real VFIO cannot give here, or
#                    its `# profile:` line pins it to the other kernel series)
# and a summary. `# profile: debian-6.1` / `debian-6.12` files run only on that series;
# files without one run on every kernel. Exit status: 0 if every file that ran passed, 1 otherwise.
#
# `emulated` needs an emulated-IOMMU group (an mdev): user space cannot create one. With the
# project's test mdev loaded (vfio-vm does by default) vfiopin-replay creates instances of it;
# without it such files are NOT-RUN and counted apart: they are not passes.
set -u
dir=${1:?usage: run-scenarios.sh DIR}
pass=0 fail=0 notrun=0
release=$(uname -r)
series=${release%%-*}      # 6.1.0 or 6.12.117+deb12
series=${series%.*}        # 6.1 or 6.12 (drops the last dot part)
series=${series%%+*}
for f in "$dir"/*.vfs; do
  name=${f##*/}
  profile=$(sed -n 's/^# profile: \(debian-[0-9.]*\).*/\1/p' "$f" | head -n 1)
  if [ -n "$profile" ] && [ "$profile" != "debian-$series" ]; then
    echo "NOT-RUN $name (profile $profile; this kernel is $release)"
    notrun=$((notrun + 1))
    continue
  fi
  if grep -q '^# requires:.*emulated' "$f" && [ ! -d /sys/class/mdev_bus/vfiopin_test_mdev ]; then
    echo "NOT-RUN $name (needs an emulated-IOMMU device: the test mdev is not loaded)"
    notrun=$((notrun + 1))
    continue
  fi
  if out=$(vfiopin-replay --backend vfio --check "$f" 2>&1); then
    echo "PASS $name"
    pass=$((pass + 1))
  else
    echo "FAIL $name"
    printf '%s\n' "$out" | sed 's/^/    /'
    fail=$((fail + 1))
  fi
done
echo "scenarios on real VFIO ($(uname -r)): $pass passed, $fail failed, $notrun not run"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
