# SPDX-License-Identifier: Apache-2.0
#
# benchmarks/report.awk: the markdown report of benchmarks/run.sh (POSIX awk; mawk is fine).
#
# Input files, in this order:
#   machine.tsv    key <TAB> value
#   cases.txt      the driver's native result line (key=value ..., memory from its counting
#                  allocator) <TAB> Ir=.. <TAB> D1m=.. <TAB> L2m=.. <TAB> cg_checksum=.. (callgrind)
#   wall.tsv       workload/impl <TAB> median seconds per op <TAB> CV of it (fraction)
# Ratios are row / baseline of the same workload (below 1: the row is cheaper); speed-ups are
# baseline / row. The time targets get two verdicts: by CPU time (what the target means; "within
# noise" when the threshold lies inside the combined CV of the two medians) and by instruction
# count (deterministic, but blind to cache-miss latency, which dominates the tree baselines).

function num(x) { return x + 0 }
function has(w, i) { return ((w SUBSEP i) in ops) }
function ir(w, i) { return has(w, i) && ops[w, i] > 0 ? irt[w, i] / ops[w, i] : -1 }
function d1(w, i) { return has(w, i) && ops[w, i] > 0 ? d1t[w, i] / ops[w, i] : -1 }
function l2(w, i) { return has(w, i) && ops[w, i] > 0 ? l2t[w, i] / ops[w, i] : -1 }
function ns(w, i) { return ((w "/" i) in med) ? med[w "/" i] * 1e9 : -1 }
function ratio(a, b) { return (a >= 0 && b > 0) ? a / b : -1 }
function per_unit(v, w, i) { return has(w, i) && units[w, i] > 0 ? v / units[w, i] : -1 }
function f(x, fmt) { return x < 0 ? "–" : sprintf(fmt, x) }
function verdict(ok) { return ok ? "**met**" : "**not met**" }
function cvof(w, i) { return ((w "/" i) in cv) ? cv[w "/" i] : 0 }
# x against target (le: x <= target is met), u: relative uncertainty of x.
function judge(x, target, le, u,    met, near) {
  if (x < 0) return "n/a"
  met = le ? x <= target : x >= target
  near = u > 0 && x > target / (1 + u) && x < target * (1 + u)
  if (near) return met ? "met (within noise)" : "not met (within noise)"
  return verdict(met)
}
# One time target row: ratio of times (or speed-up when speedup), and of instruction counts.
function target_row(label, w, i, base, target, speedup,    t, c, u) {
  t = speedup ? ratio(ns(w, base), ns(w, i)) : ratio(ns(w, i), ns(w, base))
  c = speedup ? ratio(ir(w, base), ir(w, i)) : ratio(ir(w, i), ir(w, base))
  u = sqrt(cvof(w, i) ^ 2 + cvof(w, base) ^ 2)
  printf "| %s | %s | %s | %s | %s | %s | %s |\n", label, i, f(t, speedup ? "%.1f×" : "%.3f"),
    f(t < 0 ? -1 : u * 100, "±%.0f%%"), judge(t, target, !speedup, u), f(c, speedup ? "%.1f×" : "%.3f"), judge(c, target, !speedup, 0)
}

function describe(w, i) {
  if (i == "b0") return "B0 naive: std::map of mappings + std::map of page refcounts"
  if (i == "b1") return "B1 kernel: rb-tree of vfio_dma, per-dma rb-tree of vfio_pfn, page by page"
  if (i == "vfiopin") return "vfiopin structures: dma ordered_index + run-length pin_records (no lock)"
  if (i == "type1-light") return "mock::type1<light_memory>: whole mock path, baselines' GUP stand-in"
  if (i == "type1" && w ~ /^map/) return "mock::type1 map_dma, emulated-only container (MAP pins nothing)"
  if (i == "type1") return "mock::type1<process>: whole mock path, emulated process memory"
  if (i == "type1-domain" && w == "translate") return "mock::type1::translate: lock + domain page table (iova -> pfn)"
  if (i == "type1-domain") return "mock::type1<process> + real domain (MAP pinned everything; no charge)"
  return i
}
function heading(w) {
  if (w == "translate") return "translate: 65,535 mappings of 16 KiB, 262,144 random lookups; op = 1 lookup"
  if (w == "map-random") return "map-random: 65,535 maps in random iova order into an empty container; op = 1 map; memory per mapping"
  if (w == "map-seq") return "map-seq: the same in ascending iova order"
  if (w == "pin-batch") return "pin-batch: 8 dmas x 16,384 pages pinned in 512-page calls, then unpinned; op = 1 page pinned + unpinned; memory per pinned page (dense frames)"
  if (w == "pin-single") return "pin-single: first half of each dma pinned; 65,536 x (pin 1 random page, unpin it); op = 1 pair"
  if (w == "pin-batch-scatter") return "pin-batch-scatter: pin-batch with no two frames adjacent (worst case for run-length records)"
  return w
}

FILENAME == ARGV[1] {
  split($0, kv, "\t")
  machine[kv[1]] = kv[2]
  mkeys[++nm] = kv[1]
  next
}
FILENAME == ARGV[2] {
  n = split($0, tok, /[ \t]+/)
  delete r
  for (k = 1; k <= n; ++k) {
    eq = index(tok[k], "=")
    if (eq > 0) r[substr(tok[k], 1, eq - 1)] = substr(tok[k], eq + 1)
  }
  w = r["workload"]; i = r["impl"]
  if (!((w SUBSEP i) in ops)) {
    if (!(w in seen)) { seen[w] = 1; order[++nw] = w }
    impls[w, ++ni[w]] = i
  }
  ops[w, i] = num(r["ops"]); units[w, i] = num(r["units"])
  ok[w, i] = (r["checksum"] == r["expected"]) && (!("cg_checksum" in r) || r["cg_checksum"] == r["checksum"])
  req[w, i] = num(r["heap_requested"]); chk[w, i] = num(r["heap_chunks"]); own[w, i] = num(r["own_bytes"])
  irt[w, i] = num(r["Ir"]); d1t[w, i] = num(r["D1m"]); l2t[w, i] = num(r["L2m"])
  next
}
FILENAME == ARGV[3] {
  split($0, kv, "\t")
  med[kv[1]] = num(kv[2]); cv[kv[1]] = num(kv[3])
  next
}

END {
  print "## Machine and run"
  print ""
  print "| | |"
  print "|---|---|"
  for (k = 1; k <= nm; ++k) printf "| %s | %s |\n", mkeys[k], machine[mkeys[k]]
  print ""
  print "## Results"
  print ""
  print "Ir = instructions (callgrind, measured part only). D1/L2 miss = simulated misses of a 32 KiB L1d and a"
  print "1 MiB L2. ns = CPU time per op, median of the repetitions (Google Benchmark), CV = its coefficient of"
  print "variation. ×B0, ×B1 = row / baseline (below 1 is better). Bytes per unit (mapping or pinned page):"
  print "requested = live bytes asked of operator new (counting allocator); chunks = what glibc malloc spends on"
  print "them; own = the structure's own accounting (heap_bytes(), vfiopin rows). ok = checksum as expected."
  for (x = 1; x <= nw; ++x) {
    w = order[x]
    print ""
    print "### " heading(w)
    print ""
    print "| row | measures | Ir/op | Ir ×B0 | Ir ×B1 | D1 miss/op | L2 miss/op | L2 ×B0 | ns/op | CV | ns ×B0 | ns ×B1 | B/unit requested | B/unit chunks | B/unit own | ok |"
    print "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|"
    for (y = 1; y <= ni[w]; ++y) {
      i = impls[w, y]
      c = ((w "/" i) in cv) ? cv[w "/" i] * 100 : -1
      printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", i, describe(w, i),
        f(ir(w, i), "%.1f"), f(ratio(ir(w, i), ir(w, "b0")), "%.3f"), f(ratio(ir(w, i), ir(w, "b1")), "%.3f"),
        f(d1(w, i), "%.2f"), f(l2(w, i), "%.2f"), f(ratio(l2(w, i), l2(w, "b0")), "%.3f"),
        f(ns(w, i), "%.1f"), f(c, "%.1f%%"), f(ratio(ns(w, i), ns(w, "b0")), "%.3f"), f(ratio(ns(w, i), ns(w, "b1")), "%.3f"),
        f(per_unit(req[w, i], w, i), "%.2f"), f(per_unit(chk[w, i], w, i), "%.2f"),
        f(own[w, i] > 0 ? per_unit(own[w, i], w, i) : -1, "%.2f"), ok[w, i] ? "ok" : "**MISMATCH**"
    }
  }

  print ""
  print "## Targets (issue 3), from this run"
  print ""
  print "Time targets: the ratio of CPU-time medians (speed-up for pin), its noise (combined CV of the two"
  print "medians) and the verdict; then the same ratio of instruction counts and its verdict."
  print ""
  print "| target | row | time | noise | verdict by time | Ir | verdict by Ir |"
  print "|---|---|--:|--:|---|--:|---|"
  target_row("translate ≤ 1/8 × B0", "translate", "vfiopin", "b0", 0.125, 0)
  target_row("translate ≤ 1/8 × B0", "translate", "type1-domain", "b0", 0.125, 0)
  target_row("map-random ≤ 0.5 × B0", "map-random", "vfiopin", "b0", 0.5, 0)
  target_row("map-random ≤ 0.5 × B0", "map-random", "type1", "b0", 0.5, 0)
  target_row("map-seq ≤ 0.5 × B0", "map-seq", "vfiopin", "b0", 0.5, 0)
  target_row("map-seq ≤ 0.5 × B0", "map-seq", "type1", "b0", 0.5, 0)
  split("vfiopin type1-light type1 type1-domain", rows, " ")
  for (z = 1; z <= 4; ++z) target_row("pin-batch ≥ 10× faster than B1", "pin-batch", rows[z], "b1", 10, 1)
  for (z = 1; z <= 4; ++z) target_row("pin-single ≥ 10× faster than B1", "pin-single", rows[z], "b1", 10, 1)
  print ""
  print "Memory targets (deterministic: live bytes requested from operator new, per unit)."
  print ""
  print "| target | row | figure | measured | verdict |"
  print "|---|---|---|--:|---|"
  # 4. <= 4 bytes per pinned page, dense runs.
  split("vfiopin type1 type1-domain", rows, " ")
  for (z = 1; z <= 3; ++z) {
    t = per_unit(req["pin-batch", rows[z]], "pin-batch", rows[z])
    printf "| ≤ 4 B per pinned page (dense) | %s | requested bytes / page (B1: %s) | %s | %s |\n", rows[z],
      f(per_unit(req["pin-batch", "b1"], "pin-batch", "b1"), "%.1f"), f(t, "%.2f"), t < 0 ? "n/a" : verdict(t <= 4)
  }
  split("vfiopin type1", rows, " ")
  for (z = 1; z <= 2; ++z) {
    t = per_unit(req["pin-batch-scatter", rows[z]], "pin-batch-scatter", rows[z])
    printf "| (worst case, scattered frames: ≤ 64 B) | %s | requested bytes / page | %s | %s |\n", rows[z],
      f(t, "%.2f"), t < 0 ? "n/a" : verdict(t <= 64)
  }
  # 5. <= 64 bytes per mapping.
  for (y = 1; y <= 2; ++y) {
    w = y == 1 ? "map-random" : "map-seq"
    for (z = 1; z <= 2; ++z) {
      t = per_unit(req[w, rows[z]], w, rows[z])
      printf "| ≤ 64 B per mapping (%s) | %s | requested bytes / mapping (chunks: %s; B0: %s) | %s | %s |\n", w, rows[z],
        f(per_unit(chk[w, rows[z]], w, rows[z]), "%.1f"), f(per_unit(req[w, "b0"], w, "b0"), "%.1f"),
        f(t, "%.2f"), t < 0 ? "n/a" : verdict(t <= 64)
    }
  }
  bad = 0
  for (x = 1; x <= nw; ++x) for (y = 1; y <= ni[order[x]]; ++y) if (!ok[order[x], impls[order[x], y]]) ++bad
  print ""
  print (bad == 0 ? "All checksums as expected." : "**" bad " checksum mismatch(es): the figures above are not trustworthy.**")
}
