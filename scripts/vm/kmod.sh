# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
#
# The test mediated device of scripts/vfio-vm --kmod (sourced, not run; needs lib.sh and a
# kernel prepared by kernel.sh).
#
# vm_kmod_prepare CACHE KDIR SRC: makes CACHE/kmod/<kernel package>/ hold, for the kernel
# prepared in KDIR (info: package, version, release):
#   mdev.ko                 the kernel's own mdev module, decompressed, cut out of the kernel
#                           deb that kernel.sh keeps in CACHE/debs
#   vfiopin_test_mdev.ko    SRC (tests/kmod) built out of tree against Debian's headers
#   load-order              mdev.ko, vfiopin_test_mdev.ko (the guest's /init insmods them
#                           after the VFIO modules)
#   headers/                linux-headers-<release> (exactly the kernel's version), its
#                           -common package and its linux-kbuild, unpacked with dpkg-deb -x
#   stamp                   what the module was built from (checksum of SRC and version)
# and sets VM_KMOD_DIR to it. The headers are unpacked, never installed: 6.12's headers
# depend on the 6.12 linux-image package itself, which has no business on the host. The
# tools the headers want (their non-linux Depends: gcc-12, pahole, libelf1, ...; gcc-N for
# linux-compiler-gcc-N-x86) are
# installed with apt-get when missing (needs root). The amd64 headers' Makefile includes
# the -common tree by its absolute /usr/src path; the unpacked copy is pointed at the
# unpacked -common instead. The compiler is the one the headers name (CC in
# .kernelvariables: gcc-12 for both 6.1 and 6.12 on bookworm). Everything runs under an
# flock on CACHE/kmod/lock; a later run with unchanged sources and kernel does nothing.

VM_KMOD_FORMAT=1
VM_KMOD_NAME=vfiopin_test_mdev

# vm_kmod_fetch PKG=VERSION|PKG DEBDIR: apt-get download into DEBDIR, prints the deb.
vm_kmod_fetch() {
  local spec=$1 debdir=$2 name=${1%%=*} apt_opts=() deb
  [[ $(id -u) -eq 0 ]] && apt_opts+=(-o APT::Sandbox::User=root)
  (cd "$debdir" && apt-get download -q "${apt_opts[@]}" -- "$spec" >&2) || return 1
  deb=$(compgen -G "$debdir/${name}_*.deb" | sort -V | tail -n1 || true)
  [[ -n $deb ]] && printf '%s\n' "$deb"
}

# vm_kmod_depends DEB: the Depends of DEB, one package name a line (first alternative).
vm_kmod_depends() {
  dpkg-deb -f "$1" Depends | tr ',' '\n' | sed -E 's/\|.*//; s/\(.*\)//; s/:any//; s/[[:space:]]//g' |
    sed '/^$/d'
}

# vm_kmod_headers RELEASE VERSION ROOT: downloads and unpacks the headers of RELEASE at
# VERSION into ROOT; installs the host tools they depend on.
vm_kmod_headers() {
  local release=$1 version=$2 root=$3 debdir deb dep tools=() missing=() debs=()
  debdir=$(mktemp -d "$(dirname -- "$root")/debs.XXXXXX")
  (
    trap 'rm -rf -- "$debdir"' EXIT
    vm_say "downloading linux-headers-$release ($version) and its -common and kbuild packages"
    deb=$(vm_kmod_fetch "linux-headers-$release=$version" "$debdir") ||
      { vm_say "apt-get download linux-headers-$release=$version failed"; exit 1; }
    debs=("$deb")
    while IFS= read -r dep; do
      case $dep in
        linux-headers-*-common) deb=$(vm_kmod_fetch "$dep=$version" "$debdir") || exit 1; debs+=("$deb") ;;
        linux-kbuild-*)
          deb=$(vm_kmod_fetch "$dep" "$debdir") || exit 1
          debs+=("$deb")
          # Its own Depends are host tools too (libelf1, pahole, ...).
          while IFS= read -r dep; do tools+=("$dep"); done < <(vm_kmod_depends "$deb")
          ;;
        # Only a wrapper around gcc-N, but tied to the kernel's exact version: installing
        # it would upgrade linux-libc-dev and friends on the host.
        linux-compiler-gcc-*) dep=${dep#linux-compiler-gcc-}; tools+=("gcc-${dep%%-*}") ;;
        linux-image-* | linux-base | linux-headers-*) ;;
        *) tools+=("$dep") ;;
      esac
    done < <(vm_kmod_depends "${debs[0]}")
    [[ ${#debs[@]} -ge 3 ]] || { vm_say "linux-headers-$release: expected -common and kbuild in its Depends"; exit 1; }
    for dep in "${tools[@]}"; do
      dpkg-query -W -f '${Status}\n' "$dep" 2>/dev/null | grep -q ' installed$' || missing+=("$dep")
    done
    if [[ ${#missing[@]} -gt 0 ]]; then
      [[ $(id -u) -eq 0 ]] ||
        { vm_say "the kernel headers need: ${missing[*]} (apt-get install them as root)"; exit 1; }
      vm_say "installing what the kernel headers need: ${missing[*]}"
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends -- "${missing[@]}" >&2 ||
        { vm_say "apt-get install ${missing[*]} failed"; exit 1; }
    fi
    rm -rf -- "$root.tmp" && mkdir -p "$root.tmp" || exit 1
    for deb in "${debs[@]}"; do
      dpkg-deb -x "$deb" "$root.tmp" || { vm_say "dpkg-deb -x ${deb##*/} failed"; exit 1; }
    done
    # include /usr/src/linux-headers-<abi>-common/Makefile -> the unpacked copy
    sed -i "s|^include /usr/src/|include $root/usr/src/|" "$root.tmp/usr/src/linux-headers-$release/Makefile" || exit 1
    rm -rf -- "$root" && mv -T -- "$root.tmp" "$root"
  )
}

# vm_kmod_prepare CACHE KDIR SRC: see the top of this file; sets VM_KMOD_DIR.
vm_kmod_prepare() {
  local cache=$1 kdir=$2 src=$3 package version release out stamp lockfd kdeb member file
  package=$(sed -n 's/^package=//p' "$kdir/info")
  version=$(sed -n 's/^version=//p' "$kdir/info")
  release=$(sed -n 's/^release=//p' "$kdir/info")
  [[ -n $package && -n $version && -n $release ]] || vm_die "incomplete $kdir/info"
  out=$cache/kmod/$package
  stamp="format=$VM_KMOD_FORMAT version=$version source=$(cat -- "$src"/Kbuild "$src"/*.c "$src"/*.h | cksum | tr ' ' -)"
  mkdir -p "$out" || vm_die "cannot create $out"
  exec {lockfd}>>"$cache/kmod/lock"
  flock "$lockfd"
  # shellcheck disable=SC2034 # read by scripts/vfio-vm and initramfs.sh
  VM_KMOD_DIR=$out
  if [[ -f $out/stamp && $(cat -- "$out/stamp") == "$stamp" && -f $out/load-order ]]; then
    exec {lockfd}>&-
    return 0
  fi
  rm -f -- "$out/stamp" "$out/load-order"

  if [[ ! -f $out/headers/usr/src/linux-headers-$release/Makefile ]] ||
    ! grep -qx "version=$version" "$out/headers.info" 2>/dev/null; then
    vm_kmod_headers "$release" "$version" "$out/headers" || vm_die "could not get the headers of $release"
    printf 'version=%s\n' "$version" >"$out/headers.info"
  fi

  vm_say "building $VM_KMOD_NAME.ko for $release"
  rm -rf -- "$out/build"
  if ! mkdir -p "$out/build" || ! cp -- "$src"/Kbuild "$src"/*.c "$src"/*.h "$out/build/"; then
    vm_die "cannot copy $src into $out/build"
  fi
  make -s -j2 -C "$out/headers/usr/src/linux-headers-$release" M="$out/build" modules >&2 ||
    vm_die "building $VM_KMOD_NAME.ko against linux-headers-$release failed"
  cp -- "$out/build/$VM_KMOD_NAME.ko" "$out/$VM_KMOD_NAME.ko" || vm_die "no $VM_KMOD_NAME.ko built"

  # mdev.ko from the kernel deb kernel.sh keeps.
  kdeb=$(compgen -G "$cache/debs/${package}_*.deb" | sort -V | tail -n1 || true)
  [[ -n $kdeb ]] || vm_die "no $package deb in $cache/debs to take mdev.ko from (delete $kdir to refetch)"
  member=$(dpkg-deb --fsys-tarfile "$kdeb" | tar -t | grep -E '/kernel/drivers/vfio/mdev/mdev\.ko(\.xz|\.zst|\.gz)?$' | head -n1)
  [[ -n $member ]] || vm_die "no mdev.ko in ${kdeb##*/} (CONFIG_VFIO_MDEV not a module?)"
  file=$out/mdev.ko${member##*mdev.ko}
  dpkg-deb --fsys-tarfile "$kdeb" | tar -xO -- "$member" >"$file" || vm_die "cannot extract $member"
  case $file in
    *.xz) xz -dc -- "$file" >"$out/mdev.ko" && rm -f -- "$file" ;;
    *.zst) zstd -dcq -- "$file" >"$out/mdev.ko" && rm -f -- "$file" ;;
    *.gz) gzip -dc -- "$file" >"$out/mdev.ko" && rm -f -- "$file" ;;
  esac || vm_die "cannot decompress $member"
  printf 'mdev.ko\n%s.ko\n' "$VM_KMOD_NAME" >"$out/load-order"
  printf '%s\n' "$stamp" >"$out/stamp"
  vm_say "$VM_KMOD_NAME.ko and mdev.ko for $release in $out"
  exec {lockfd}>&-
}
