# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
#
# The guest kernel of scripts/vfio-vm (sourced, not run; needs lib.sh).
#
# Debian's own kernel, never installed on the host:
#   1. resolve the versioned package through its metapackage (the mirror drops old exact
#      versions, so a hard-coded name would rot): 6.1 -> linux-image-amd64,
#      6.12 -> linux-image-6.12-amd64; if a metapackage gives nothing, the newest package
#      matching the series' name pattern (apt-cache search, sort -V). An exact package
#      name (linux-image-...) is taken as is.
#   2. `apt-get download` it into CACHE/debs (the one deb of a series is kept; when a new
#      version arrives, the older deb and prepared kernel of the series are deleted);
#   3. `dpkg-deb -x` it into a scratch dir, cut the uncompressed vmlinux out of vmlinuz
#      (after the xz magic FD 37 7A 58 5A 00, or the zstd magic 28 B5 2F FD), decompress it
#      and check it is a complete ELF; run depmod -b on the unpacked tree (the deb has no
#      modules.dep) and copy the VFIO modules and their dependencies, decompressed, in load
#      order; delete the scratch dir.
# The package name apt resolved is memoized in CACHE/resolved/<series> (see
# vm_apt_fingerprint). The result, CACHE/kernels/<package>/ = vmlinux, modules/*.ko, modules/load-order, info,
# is reused by every later run; a change of VM_PREP_FORMAT (this file's output layout)
# re-prepares it from the kept deb. All of it runs under an flock on CACHE/lock, so
# concurrent runs (ctest -j) fetch once.
#
# Offline: when apt cannot resolve or download, the newest already-prepared kernel of the
# series in the cache is used (with a note).

VM_PREP_FORMAT=1

# The modules the guest loads, in this order (vm-testbed.md), each after its own
# dependencies from modules.dep. irqbypass and vfio_virqfd may be built in (or, for
# vfio_virqfd since 6.2, part of vfio.ko): then they are simply skipped.
VM_KERNEL_MODULES=(vfio vfio_iommu_type1 irqbypass vfio_virqfd vfio_pci_core vfio_pci)
VM_KERNEL_OPTIONAL_MODULES=" irqbypass vfio_virqfd "

vm_kernel_regex() {
  case $1 in
    6.1) echo '^linux-image-6\.1\.[0-9]+-[0-9]+-amd64$' ;;
    6.12) echo '^linux-image-6\.12\.[0-9]+\+deb12-amd64$' ;;
    linux-image-*) printf '^%s$\n' "$(printf '%s' "$1" | sed 's/[].[\\*^$+?(){}|]/\\&/g')" ;;
    *) return 1 ;;
  esac
}

vm_kernel_meta() {
  case $1 in
    6.1) echo linux-image-amd64 ;;
    6.12) echo linux-image-6.12-amd64 ;;
    *) echo "" ;;
  esac
}

# vm_kernel_candidate PKG: prints PKG's candidate version, fails if apt has none.
vm_kernel_candidate() {
  local cand
  cand=$(apt-cache policy -- "$1" 2>/dev/null | sed -n 's/^ *Candidate: *//p' | head -n1)
  [[ -n $cand && $cand != "(none)" ]] || return 1
  printf '%s\n' "$cand"
}

# vm_kernel_resolve SERIES: prints the versioned kernel package apt would download.
vm_kernel_resolve() {
  local series=$1 regex meta pkg=""
  regex=$(vm_kernel_regex "$series")
  meta=$(vm_kernel_meta "$series")
  if [[ -n $meta ]]; then
    # A metapackage only depends on a package of its own archive: no candidate check.
    pkg=$( (apt-cache depends -- "$meta" 2>/dev/null || true) |
      sed -n 's/^ *Depends: *//p' | (grep -E "$regex" || true) | head -n1)
  fi
  if [[ -z $pkg ]]; then
    if [[ $series == linux-image-* ]]; then
      pkg=$series
    else
      pkg=$( (apt-cache search --names-only "$regex" 2>/dev/null || true) |
        cut -d' ' -f1 | (grep -E "$regex" || true) | sort -V | tail -n1)
    fi
    [[ -n $pkg ]] && vm_kernel_candidate "$pkg" >/dev/null || return 1
  fi
  printf '%s\n' "$pkg"
}

# Where this machine has no apt pkgcache.bin (Debian's container images disable it), every
# apt-cache call parses all package lists again, 1-3 s each. So the answer of
# vm_kernel_resolve is kept in CACHE/resolved/SERIES together with a fingerprint of apt's
# package lists, and reused until `apt-get update` changes them.
vm_apt_fingerprint() {
  stat -c '%n %Y %s' /var/lib/apt/lists/*_Packages* 2>/dev/null | cksum | tr -d ' \n'
}

# vm_kernel_resolve_memo SERIES CACHE: vm_kernel_resolve, memoized in CACHE/resolved.
vm_kernel_resolve_memo() {
  local series=$1 memo=$2/resolved/$1 fp pkg
  fp=$(vm_apt_fingerprint)
  if [[ -f $memo && $(sed -n 1p "$memo") == "$fp" ]]; then
    pkg=$(sed -n 2p "$memo")
    [[ -n $pkg ]] && printf '%s\n' "$pkg" && return 0
  fi
  pkg=$(vm_kernel_resolve "$series") || return 1
  mkdir -p "$2/resolved" && printf '%s\n%s\n' "$fp" "$pkg" >"$memo.tmp" && mv -f "$memo.tmp" "$memo"
  printf '%s\n' "$pkg"
}

# vm_kernel_cached SERIES CACHE: the newest prepared kernel dir of SERIES in CACHE, if any.
vm_kernel_cached() {
  local regex dir best=""
  regex=$(vm_kernel_regex "$1")
  for dir in "$2"/kernels/*/; do
    dir=${dir%/}
    vm_kernel_prepared "$dir" || continue
    [[ ${dir##*/} =~ $regex ]] || continue
    best+="$dir"$'\n'
  done
  [[ -n $best ]] || return 1
  printf '%s' "$best" | sort -V | tail -n1
}

vm_kernel_prepared() {
  [[ -f $1/info && -f $1/vmlinux && -f $1/modules/load-order ]] &&
    grep -qx "format=$VM_PREP_FORMAT" "$1/info"
}

# vm_kernel_download PKG DEBDIR: apt-get download PKG into DEBDIR (unless there), prints the
# deb's path.
vm_kernel_download() {
  local pkg=$1 debdir=$2 deb apt_opts=()
  deb=$(compgen -G "$debdir/${pkg}_*.deb" | sort -V | tail -n1 || true)
  if [[ -n $deb ]]; then
    printf '%s\n' "$deb"
    return 0
  fi
  # As root, apt's download sandbox user (_apt) cannot write into a private cache dir.
  [[ $(id -u) -eq 0 ]] && apt_opts+=(-o APT::Sandbox::User=root)
  vm_say "downloading $pkg ($(vm_kernel_candidate "$pkg")) into $debdir"
  (cd "$debdir" && apt-get download -q "${apt_opts[@]}" -- "$pkg" >&2) || return 1
  deb=$(compgen -G "$debdir/${pkg}_*.deb" | sort -V | tail -n1 || true)
  [[ -n $deb ]] || return 1
  printf '%s\n' "$deb"
}

# vm_kernel_vmlinux VMLINUZ OUT: the uncompressed vmlinux inside VMLINUZ, into OUT.
vm_kernel_vmlinux() {
  local vmlinuz=$1 out=$2 kind pattern offset
  for kind in xz zstd; do
    case $kind in
      xz) pattern='\xFD\x37\x7A\x58\x5A\x00' ;;
      zstd) pattern='\x28\xB5\x2F\xFD' ;;
    esac
    # Every place the magic occurs; the first that decompresses into a whole ELF wins.
    # (cut: bash's read would choke on the matched bytes, invalid UTF-8.)
    while read -r offset; do
      [[ -n $offset ]] || continue
      case $kind in
        xz) tail -c +$((offset + 1)) -- "$vmlinuz" | xz -dcq --single-stream >"$out" 2>/dev/null || true ;;
        # zstd stops with an error at the data after the frame; what it wrote is checked.
        zstd) tail -c +$((offset + 1)) -- "$vmlinuz" | zstd -dcq >"$out" 2>/dev/null || true ;;
      esac
      if vm_elf_complete "$out"; then
        vm_say "vmlinux: $kind stream at offset $offset of ${vmlinuz##*/}"
        return 0
      fi
    done < <( (LC_ALL=C grep -obUaP "$pattern" -- "$vmlinuz" || true) | cut -d: -f1)
  done
  rm -f -- "$out"
  return 1
}

# vm_kernel_modules MODDIR OUTDIR: copies the VFIO modules and their dependencies from
# MODDIR (lib/modules/<release>) into OUTDIR, decompressed, and writes OUTDIR/load-order.
vm_kernel_modules() {
  local moddir=$1 outdir=$2 line key name file base target
  local -A path=() deps=() builtin=() done_=()
  local order=()
  [[ -f $moddir/modules.dep ]] || { vm_say "no modules.dep in $moddir"; return 1; }
  # Module names: basename without .ko*, '-' and '_' being the same character.
  while IFS= read -r line; do
    key=${line%%:*}
    name=${key##*/}
    name=${name%%.ko*}
    name=${name//-/_}
    path[$name]=$key
    deps[$name]=${line#*:}
  done <"$moddir/modules.dep"
  if [[ -f $moddir/modules.builtin ]]; then
    while IFS= read -r key; do
      name=${key##*/}
      name=${name%%.ko*}
      builtin[${name//-/_}]=1
    done <"$moddir/modules.builtin"
  fi

  vm_kernel_visit() {
    local n=$1 d dn
    [[ -n ${done_[$n]:-} ]] && return 0
    done_[$n]=1
    for d in ${deps[$n]}; do
      dn=${d##*/}
      dn=${dn%%.ko*}
      vm_kernel_visit "${dn//-/_}"
    done
    order+=("$n")
  }

  for target in "${VM_KERNEL_MODULES[@]}"; do
    if [[ -n ${path[$target]:-} ]]; then
      vm_kernel_visit "$target"
    elif [[ -n ${builtin[$target]:-} ]]; then
      vm_say "module $target: built into the kernel"
    elif [[ $VM_KERNEL_OPTIONAL_MODULES == *" $target "* ]]; then
      vm_say "module $target: not a module of this kernel (part of another one), skipped"
    else
      vm_say "module $target: neither a module nor built into this kernel"
      return 1
    fi
  done

  mkdir -p "$outdir" && : >"$outdir/load-order" || return 1
  for name in "${order[@]}"; do
    file=$moddir/${path[$name]}
    base=${file##*/}
    base=${base%%.ko*}.ko
    case $file in
      *.ko) cp -- "$file" "$outdir/$base" || return 1 ;;
      *.ko.xz) xz -dc -- "$file" >"$outdir/$base" || return 1 ;;
      *.ko.zst) zstd -dcq -- "$file" >"$outdir/$base" || return 1 ;;
      *.ko.gz) gzip -dc -- "$file" >"$outdir/$base" || return 1 ;;
      *) vm_say "module $name: unknown compression: $file"; return 1 ;;
    esac
    printf '%s\n' "$base" >>"$outdir/load-order"
  done
  vm_say "modules, in load order: $(tr '\n' ' ' <"$outdir/load-order")"
}

# vm_kernel_unpack DEB KDIR: prepares KDIR from DEB (see the top of this file).
vm_kernel_unpack() {
  local deb=$1 kdir=$2 cache tmp
  cache=$(dirname -- "$(dirname -- "$kdir")")
  tmp=$(mktemp -d "$cache/unpack.XXXXXX")
  (
    trap 'rm -rf -- "$tmp"' EXIT
    vm_say "unpacking ${deb##*/}"
    dpkg-deb -x "$deb" "$tmp/root" || exit 1
    vmlinuz=$(compgen -G "$tmp/root/boot/vmlinuz-*" | head -n1 || true)
    [[ -n $vmlinuz ]] || { vm_say "no boot/vmlinuz-* in ${deb##*/}"; exit 1; }
    release=${vmlinuz##*/vmlinuz-}
    moddir=""
    for d in "$tmp/root/lib/modules/$release" "$tmp/root/usr/lib/modules/$release"; do
      [[ -d $d ]] && moddir=$d && break
    done
    [[ -n $moddir ]] || { vm_say "no lib/modules/$release in ${deb##*/}"; exit 1; }
    # The deb ships no modules.dep (its postinst runs depmod): make it here.
    if [[ ! -f $moddir/modules.dep ]]; then
      depmod=$(PATH=$PATH:/usr/sbin:/sbin command -v depmod) || { vm_say "no depmod (kmod)"; exit 1; }
      "$depmod" -b "${moddir%/lib/modules/*}" "$release" || { vm_say "depmod failed"; exit 1; }
    fi
    mkdir -p "$tmp/out/modules" || exit 1
    vm_kernel_vmlinux "$vmlinuz" "$tmp/out/vmlinux" ||
      { vm_say "found no xz or zstd stream that decompresses into an ELF vmlinux in $vmlinuz"; exit 1; }
    vm_kernel_modules "$moddir" "$tmp/out/modules" || exit 1
    {
      echo "format=$VM_PREP_FORMAT"
      echo "package=$(dpkg-deb -f "$deb" Package)"
      echo "version=$(dpkg-deb -f "$deb" Version)"
      echo "release=$release"
    } >"$tmp/out/info" || exit 1
    rm -rf -- "$kdir" && mv -T -- "$tmp/out" "$kdir" || exit 1
  )
}

# vm_kernel_prepare SERIES CACHE: makes sure a prepared kernel of SERIES is in CACHE and
# sets VM_KDIR to it.
vm_kernel_prepare() {
  local series=$1 cache=$2 pkg deb lockfd kdir regex old
  vm_kernel_regex "$series" >/dev/null ||
    vm_die "unknown kernel '$series' (expected 6.1, 6.12 or a linux-image-... package name)"
  mkdir -p "$cache/debs" "$cache/kernels" || vm_die "cannot create the cache dir $cache"
  exec {lockfd}>>"$cache/lock"
  if ! flock -n "$lockfd"; then
    vm_say "waiting for another vfio-vm to finish preparing the kernel cache ($cache)"
    flock "$lockfd"
  fi

  pkg=$(vm_kernel_resolve_memo "$series" "$cache") || pkg=""
  if [[ -z $pkg && $(id -u) -eq 0 ]] && ! vm_kernel_cached "$series" "$cache" >/dev/null; then
    vm_say "apt knows no kernel package for '$series'; running apt-get update"
    apt-get update -q >&2 || true
    pkg=$(vm_kernel_resolve_memo "$series" "$cache") || pkg=""
  fi

  VM_KDIR=""
  if [[ -n $pkg ]]; then
    kdir=$cache/kernels/$pkg
    if vm_kernel_prepared "$kdir"; then
      VM_KDIR=$kdir
    else
      deb=$(vm_kernel_download "$pkg" "$cache/debs") || deb=""
      if [[ -z $deb && $(id -u) -eq 0 ]]; then
        # Stale package lists name a version the mirror has dropped.
        vm_say "download failed; running apt-get update and trying again"
        apt-get update -q >&2 || true
        pkg=$(vm_kernel_resolve_memo "$series" "$cache") || pkg=""
        kdir=$cache/kernels/$pkg
        [[ -n $pkg ]] && deb=$(vm_kernel_download "$pkg" "$cache/debs") || deb=""
      fi
      if [[ -n $deb ]]; then
        vm_kernel_unpack "$deb" "$kdir" || vm_die "could not prepare the kernel from $deb"
        VM_KDIR=$kdir
        # Keep one deb and one prepared kernel per series: the others are superseded.
        regex=$(vm_kernel_regex "$series")
        for old in "$cache"/debs/*.deb "$cache"/kernels/*; do
          [[ -e $old && $old != "$deb" && $old != "$kdir" ]] || continue
          if [[ ${old##*/} =~ ${regex%\$}(_|$) ]]; then
            vm_say "removing the superseded ${old#"$cache"/}"
            rm -rf -- "$old"
          fi
        done
      fi
    fi
  fi
  if [[ -z $VM_KDIR ]]; then
    if VM_KDIR=$(vm_kernel_cached "$series" "$cache"); then
      vm_say "could not resolve or fetch the current kernel of '$series'; using the cached ${VM_KDIR##*/}"
    else
      vm_die "could not resolve or download a kernel for '$series' through apt (is Debian's mirror reachable, and apt-get update done?)"
    fi
  fi
  exec {lockfd}>&-
}
