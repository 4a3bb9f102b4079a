#!/usr/bin/env bash
# Fault-injection wrapper used as the "xorriso" program in tests/test_optical.py.
#
# FAKE_XORRISO_FAULT picks a failure; the messages and exit codes are the ones real xorriso
# 1.5.4 / libburn print (exit 5 = "-abort_on FAILURE", the default, was triggered):
#   busy         every call: the drive is held by another program
#   no_media     queries report an empty drive (exit 0, as real xorriso); a burn fails
#   not_blank    queries report a closed DVD-R with data (exit 0); a burn fails
#   write_error  queries are real; the burn fails part-way with an I/O error
#   no_space     queries are real; the burn finds the image larger than the disc
#   hang         every call: the drive never answers (for timeout tests)
# FAKE_XORRISO_GOOD_BURNS=N (with FAKE_XORRISO_COUNTER=file) lets the first N burns succeed
# before the fault starts, e.g. copy 1 of a job burns and copy 2 fails.
# Without FAKE_XORRISO_FAULT (or for the cases marked "real") it runs the real xorriso
# (REAL_XORRISO, default /usr/bin/xorriso) with all its arguments.
set -u

real="${REAL_XORRISO:-/usr/bin/xorriso}"
fault="${FAKE_XORRISO_FAULT:-}"
addr="" burn=0 prev=""
for arg in "$@"; do
  case "$arg" in
    dev=*) addr="${arg#dev=}" ;;
    cdrecord) [ "$prev" = "-as" ] && burn=1 ;;
  esac
  case "$prev" in -outdev|-dev) addr="$arg" ;; esac
  prev="$arg"
done

if [ "$burn" = 1 ] && [ -n "${FAKE_XORRISO_GOOD_BURNS:-}" ]; then
  counter="${FAKE_XORRISO_COUNTER:?FAKE_XORRISO_COUNTER must name a file}"
  done_burns=$(cat "$counter" 2>/dev/null || echo 0)
  if [ "$done_burns" -lt "$FAKE_XORRISO_GOOD_BURNS" ]; then
    echo $((done_burns + 1)) > "$counter"
    fault=""
  fi
fi

banner() { echo "xorriso 1.5.4 : RockRidge filesystem manipulator, libburnia project." >&2; echo >&2; }
abort() { echo "xorriso : aborting : -abort_on 'FAILURE' encountered 'FAILURE'" >&2; exit 5; }
report() {  # the drive report -outdev / -toc print: $1 = Media current, $2 = Media status
  for stream in 2 1; do
    {
      echo "Drive current: -outdev '$addr'"
      echo "Media current: $1"
      echo "Media status : $2"
      [ -n "${3:-}" ] && echo "Media summary: $3"
    } >&"$stream"
  done
}

case "$fault" in
  busy)
    banner
    echo "libburn : SORRY : Cannot open busy device '${addr#stdio:}' : Device or resource busy" >&2
    echo "xorriso : FAILURE : Cannot acquire drive '$addr'" >&2
    abort ;;
  no_media)
    banner
    report "is not recognizable" "is not present"
    if [ "$burn" = 1 ]; then
      echo "xorriso : FAILURE : No media detected in drive" >&2
      echo "xorriso : FAILURE : -as cdrecord: Job could not be performed properly." >&2
      abort
    fi
    echo "Media space  : 0s"
    exit 0 ;;
  not_blank)
    banner
    report "DVD-R sequential recording" "is written , is closed" \
      "1 session, 2250000 data blocks, 4.29g data,     0 free"
    if [ "$burn" = 1 ]; then
      echo "xorriso : FAILURE : Closed media with data detected. Need blank or appendable media." >&2
      echo "xorriso : FAILURE : -as cdrecord: Job could not be performed properly." >&2
      abort
    fi
    echo "Media space  : 0s"
    exit 0 ;;
  write_error)
    if [ "$burn" = 1 ]; then
      banner
      report "DVD-R sequential recording" "is blank" "0 sessions, 0 data blocks, 0 data, 4489m free"
      echo "Beginning to write data track." >&2
      echo "libburn : SORRY : Cannot write desired amount of 32768 bytes. write(2) returned -1. : Input/output error" >&2
      echo "xorriso : FAILURE : libburn indicates failure with writing." >&2
      echo "xorriso : FAILURE : -as cdrecord: Job could not be performed properly." >&2
      abort
    fi ;;
  no_space)
    if [ "$burn" = 1 ]; then
      banner
      report "CD-R" "is blank" "0 sessions, 0 data blocks, 0 data,  702m free"
      echo "xorriso : FAILURE : Image size 2500000s exceeds free space on media 359849s" >&2
      echo "xorriso : FAILURE : -as cdrecord: Job could not be performed properly." >&2
      abort
    fi ;;
  hang) exec sleep 60 ;;
  "") ;;
  *) echo "fake_xorriso.sh: unknown FAKE_XORRISO_FAULT '$fault'" >&2; exit 64 ;;
esac

exec "$real" "$@"
