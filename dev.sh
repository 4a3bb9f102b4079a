#!/usr/bin/env bash
# Set up everything burner needs on a Debian machine (as root), then run the demo or the tests.
#   bash dev.sh demo    # set up, then run one whole job end to end on the embedded default
#   bash dev.sh test    # set up, then run the whole test suite (what .ci/run does)
#   bash dev.sh setup   # only set up
set -euo pipefail
cd "$(dirname "$0")"

# System packages: burning (xorriso), ISO listing (isoinfo from genisoimage), the DICOM
# validators used by the tests (dcmtk, dicom3tools), systemd-analyze for the unit test,
# pgrep (procps) for the demo --web test, and a real PACS for the DICOM network tests
# (Debian's orthanc with its DICOMweb plugin; the tests start their own, never the service),
# and 7z (p7zip-full), which opens the encrypted electronic copies in the tests.
APT_PACKAGES=(python3 python3-venv python3-pip xorriso genisoimage dcmtk dicom3tools systemd
              cups printer-driver-cups-pdf poppler-utils zbar-tools chromium fonts-dejavu-core
              sqlite3 ca-certificates dosfstools mtools fdisk qpdf procps orthanc orthanc-dicomweb
              p7zip-full)

install_system() {
  local missing=()
  for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" \
      || missing+=("$pkg")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "Installing system packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
}

install_python() {
  if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
  fi
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q -e '.[test]'
}

cmd="${1:-demo}"
install_system
install_python
case "$cmd" in
  setup) echo "Set up. Try: .venv/bin/burner demo" ;;
  demo)  shift || true; exec .venv/bin/burner demo "$@" ;;
  test)
    .venv/bin/ruff check burner tests bench
    exec .venv/bin/pytest -n 2 -q -rs tests ;;
  *) echo "usage: bash dev.sh [setup|demo|test]" >&2; exit 2 ;;
esac
