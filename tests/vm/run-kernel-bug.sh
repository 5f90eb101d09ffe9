#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
#
# run-kernel-bug.sh FILE: inside the test bed guest, run one tests/kernel-bugs/*.vfs, a
# scenario that can make this kernel oops, and judge the outcome. The scenario runs with
# `vfiopin-replay --backend vfio --check` in the background (a task that oopses never
# returns: it dies holding the container's lock), and the kernel log is watched for 30 s.
#   `# expect-oops: TEXT`        TEXT must appear in the kernel log;
#   `# expect-oops-maybe: TEXT`  TEXT appears, or the scenario finishes and every
#                                expectation holds (a wild write that may or may not
#                                fault, depending on what lies where it lands);
#   neither                      the scenario finishes and every expectation holds.
# Exit 0 if the outcome is one of those, 1 if not. The scenario's output is printed.
set -u
f=${1:?usage: run-kernel-bug.sh FILE}
must=$(sed -n 's/^# expect-oops: //p' "$f" | head -n 1)
maybe=$(sed -n 's/^# expect-oops-maybe: //p' "$f" | head -n 1)
pattern=${must:-$maybe}
rm -f replay.status
(vfiopin-replay --backend vfio --check "$f" > replay.out 2>&1; echo $? > replay.status) &
oopsed=0 i=0
while [ $i -lt 30 ]; do
  if [ -n "$pattern" ] && dmesg | grep -q -F "$pattern"; then oopsed=1; break; fi
  [ -f replay.status ] && break
  sleep 1
  i=$((i + 1))
done
cat replay.out
release=$(uname -r)
if [ $oopsed -eq 1 ]; then
  dmesg | grep -F "$pattern"
  echo "run-kernel-bug: $release oopsed as the file says: $pattern"
  exit 0
fi
if [ ! -f replay.status ]; then
  echo "run-kernel-bug: on $release the scenario neither finished nor oopsed in 30 s"
  exit 1
fi
status=$(cat replay.status)
if [ -n "$must" ]; then
  echo "run-kernel-bug: $release did not oops ('$must'); the scenario exited $status"
  exit 1
fi
echo "run-kernel-bug: no oops on $release; the scenario's --check exited $status"
[ "$status" -eq 0 ]
