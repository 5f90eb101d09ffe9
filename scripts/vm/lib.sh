# SPDX-License-Identifier: Apache-2.0
# shellcheck shell=bash
#
# Small helpers of scripts/vfio-vm (sourced, not run): messages and ELF checks.
#
# The ELF checks read the header with od(1) (coreutils), so they need no binutils/file:
#   vm_is_static_exe FILE   an x86-64 ELF executable without a PT_INTERP program header, i.e.
#                           one the guest can run with no dynamic loader and no libraries
#                           (static or static-pie);
#   vm_elf_complete FILE    an ELF64 file whose section header table lies inside the file,
#                           i.e. not a truncated decompression (used for the vmlinux).

vm_say() {
  printf 'vfio-vm: %s\n' "$*" >&2
}

vm_die() {
  printf 'vfio-vm: error: %s\n' "$*" >&2
  exit 125
}

# vm_elf_u FILE OFFSET SIZE: the little-endian unsigned integer of SIZE bytes at OFFSET.
vm_elf_u() {
  od -An -t "u$3" -j "$2" -N "$3" -- "$1" | tr -d ' \n'
}

vm_is_elf64() {
  [[ -f $1 && -r $1 ]] || return 1
  # \x7fELF, ELFCLASS64, ELFDATA2LSB
  [[ $(od -An -tx1 -N6 -- "$1" | tr -d ' \n') == 7f454c460201 ]]
}

vm_is_static_exe() {
  local file=$1 type machine phoff phentsize phnum i
  vm_is_elf64 "$file" || return 1
  type=$(vm_elf_u "$file" 16 2)
  machine=$(vm_elf_u "$file" 18 2)
  [[ $type == 2 || $type == 3 ]] || return 1   # ET_EXEC, or ET_DYN (static-pie)
  [[ $machine == 62 ]] || return 1             # EM_X86_64
  phoff=$(vm_elf_u "$file" 32 8)
  phentsize=$(vm_elf_u "$file" 54 2)
  phnum=$(vm_elf_u "$file" 56 2)
  [[ $phnum -gt 0 ]] || return 1
  for ((i = 0; i < phnum; i++)); do
    # PT_INTERP (3): the file wants a dynamic loader.
    [[ $(vm_elf_u "$file" $((phoff + i * phentsize)) 4) == 3 ]] && return 1
  done
  return 0
}

vm_elf_complete() {
  local file=$1 shoff shentsize shnum size
  vm_is_elf64 "$file" || return 1
  shoff=$(vm_elf_u "$file" 40 8)
  shentsize=$(vm_elf_u "$file" 58 2)
  shnum=$(vm_elf_u "$file" 60 2)
  size=$(stat -c %s -- "$file")
  [[ $shnum -gt 0 && $((shoff + shentsize * shnum)) -le $size ]]
}

# vm_quote WORD: WORD as one single-quoted POSIX sh word (for the guest's busybox sh).
vm_quote() {
  local q="'\\''"
  printf "'%s'" "${1//\'/$q}"
}
