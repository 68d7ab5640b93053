#!/usr/bin/env bash
# elf-check.sh FILE... - checks that each ELF program can be loaded and started
# on every page size its architecture runs with (x86-64 and 32-bit ARM: 4 KiB;
# aarch64: 4, 16 and 64 KiB, a Raspberry Pi 5 runs 16 KiB pages):
#
#   - every page of PT_GNU_RELRO lies inside some PT_LOAD's mapping. glibc
#     makes [ALIGN_DOWN(relro, P), ALIGN_DOWN(relro + memsz, P)) read-only
#     after relocation and a static program dies at start ("cannot apply
#     additional memory protection after relocation: Cannot allocate memory")
#     when a page of it is not mapped. The kernel maps each PT_LOAD as
#     [ALIGN_DOWN(vaddr, P), ALIGN_UP(vaddr + memsz, P)) and nothing between
#     them. qemu-user lets that mprotect succeed, so running it there proves
#     nothing; this reads the layout instead.
#   - every PT_LOAD's p_align is at least the largest page size (and its
#     vaddr and offset agree modulo it), or the kernel cannot map it at all.
#
# Uses GNU readelf, which reads foreign-architecture files too. Prints one line
# per violation and exits 1, or one OK line per file and exits 0 (2: usage,
# not an ELF file, unknown machine).
set -euo pipefail

[ $# -gt 0 ] || { echo "usage: $0 FILE..." >&2; exit 2; }
READELF=${READELF:-readelf}

hex() { printf '0x%x' "$1"; }
kib() { echo "$(($1 / 1024)) KiB"; }

# page sizes a kernel of this machine (readelf's "Machine:" text) may use
page_sizes() {
  case $1 in
    AArch64) echo "4096 16384 65536" ;;
    "Advanced Micro Devices X86-64" | "Intel 80386" | ARM) echo 4096 ;;
    *) return 1 ;;
  esac
}

# sections_in FILE START END: the allocated sections that overlap [START, END),
# or, when none does (alignment padding), the ones on either side of it
sections_in() {
  local start=$1 end=$2 name type addr size flags inside="" before="" after="" b_end=-1 a_start=-1 s e
  while read -r name type addr size flags; do
    s=$((16#$addr)) e=$((16#$addr + 16#$size))
    # .tbss takes no room in the image: its address overlaps what follows
    if [[ $type == NOBITS && $flags == *T* ]]; then continue; fi
    if [ "$s" -lt "$end" ] && [ "$e" -gt "$start" ]; then
      inside+=" $name"
    elif [ "$e" -le "$start" ] && [ "$e" -gt "$b_end" ]; then
      before=$name b_end=$e
    elif [ "$s" -ge "$end" ] && { [ "$a_start" -lt 0 ] || [ "$s" -lt "$a_start" ]; }; then
      after=$name a_start=$s
    fi
  done < <(alloc_sections)
  if [ -n "$inside" ]; then
    echo "sections:$inside"
  else
    echo "no section there: padding between ${before:-the start} and ${after:-the end}"
  fi
}

# alloc_sections: NAME TYPE ADDR SIZE FLAGS for each SHF_ALLOC section of $file
alloc_sections() {
  "$READELF" -SW "$file" | sed -n 's/^ *\[ *[0-9]*\] //p' |
    awk 'NF == 10 && $7 ~ /A/ && $3 !~ /^0+$/ { print $1, $2, $3, $5, $7 }'
}

check_file() { # sets bad=1 on a violation
  file=$1
  local header machine sizes pmax p line vaddr offset align
  local -a l_vaddr=() l_memsz=() l_off=() l_align=()
  local relro_vaddr="" relro_memsz="" i problems=0
  if ! header=$("$READELF" -hW "$file" 2>&1) || ! grep -q '^ *Magic:' <<<"$header"; then
    echo "elf-check: $file: not an ELF file: $(head -n 1 <<<"$header")"
    return 2
  fi
  machine=$(sed -n 's/^ *Machine: *//p' <<<"$header")
  if ! sizes=$(page_sizes "$machine"); then
    echo "elf-check: $file: machine '$machine': page sizes unknown to this check"
    return 2
  fi
  pmax=${sizes##* }

  # LOAD / GNU_RELRO lines: type offset vaddr paddr filesz memsz flags... align
  while read -r -a line; do
    case ${line[0]} in
      LOAD)
        l_off+=($((line[1]))) l_vaddr+=($((line[2]))) l_memsz+=($((line[5])))
        l_align+=($((line[${#line[@]} - 1])))
        ;;
      GNU_RELRO) relro_vaddr=$((line[2])) relro_memsz=$((line[5])) ;;
    esac
  done < <("$READELF" -lW "$file" | awk '$1 == "LOAD" || $1 == "GNU_RELRO"')
  [ ${#l_vaddr[@]} -gt 0 ] || { echo "elf-check: $file: no PT_LOAD"; return 1; }

  for i in "${!l_vaddr[@]}"; do
    vaddr=${l_vaddr[i]} offset=${l_off[i]} align=${l_align[i]}
    if [ "$align" -lt "$pmax" ]; then
      echo "elf-check: $file: $(kib "$pmax") pages: PT_LOAD at $(hex "$vaddr") has p_align $(hex "$align"):" \
        "a $(kib "$pmax")-page kernel cannot map it (link with -z max-page-size=$pmax)"
      problems=$((problems + 1))
    elif [ $(((vaddr - offset) % pmax)) -ne 0 ]; then
      echo "elf-check: $file: $(kib "$pmax") pages: PT_LOAD at $(hex "$vaddr") and its file offset" \
        "$(hex "$offset") differ by a fraction of a page: it cannot be mapped"
      problems=$((problems + 1))
    fi
  done

  if [ -n "$relro_vaddr" ]; then
    local start end cur next found ls le gap_end
    for p in $sizes; do
      start=$((relro_vaddr & ~(p - 1))) end=$(((relro_vaddr + relro_memsz) & ~(p - 1)))
      cur=$start
      while [ "$cur" -lt "$end" ]; do
        found=0 next=$end
        for i in "${!l_vaddr[@]}"; do
          ls=$((l_vaddr[i] & ~(p - 1))) le=$(((l_vaddr[i] + l_memsz[i] + p - 1) & ~(p - 1)))
          if [ "$ls" -le "$cur" ] && [ "$cur" -lt "$le" ]; then
            found=1 next=$le
            break
          fi
          if [ "$ls" -gt "$cur" ] && [ "$ls" -lt "$next" ]; then next=$ls; fi
        done
        if [ $found = 0 ]; then
          gap_end=$next
          echo "elf-check: $file: $(kib "$p") pages: RELRO [$(hex "$start"), $(hex "$end")) includes" \
            "[$(hex "$cur"), $(hex "$gap_end")), which no PT_LOAD maps ($(sections_in "$cur" "$gap_end")):" \
            "glibc's mprotect of RELRO fails at start"
          problems=$((problems + 1))
        fi
        cur=$next
      done
    done
  fi
  if [ $problems -gt 0 ]; then return 1; fi
  local list="" s
  for s in $sizes; do list+="${list:+/}$((s / 1024))"; done
  if [ -n "$relro_vaddr" ]; then
    echo "elf-check: OK $file ($machine, $list KiB pages: ${#l_vaddr[@]} PT_LOAD, RELRO" \
      "$(hex "$relro_vaddr")+$(hex "$relro_memsz") mapped, p_align >= $(hex "$pmax"))"
  else
    echo "elf-check: OK $file ($machine, $list KiB pages: ${#l_vaddr[@]} PT_LOAD, no RELRO," \
      "p_align >= $(hex "$pmax"))"
  fi
}

rc=0
for f in "$@"; do
  r=0
  check_file "$f" || r=$?
  if [ $r -gt $rc ]; then rc=$r; fi
done
exit $rc
