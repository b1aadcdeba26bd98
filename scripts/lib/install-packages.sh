# Sourced by the setup scripts (setup.sh, sanitize.sh, fuzz.sh): install_missing_packages
# <who> <package...> installs, with apt-get, those of the Debian packages that are not installed
# yet, and does nothing (no apt-get at all) when every one is. <who> prefixes the message. Uses
# sudo unless run as root.
install_missing_packages() {
  local who=$1
  shift
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  echo "$who: installing ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}
