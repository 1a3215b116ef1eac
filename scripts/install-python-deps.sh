#!/usr/bin/env bash
# Creates the Python virtual environment .venv/ with tests/requirements.txt (pywinrm, pypsrp,
# pytest) for the conformance tests. Idempotent: does nothing when .venv already holds exactly
# those requirements.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv
stamp=$venv/.requirements-sha256
# psrpcore: the CLIXML oracle of tests/conformance/test_psrp_clixml.py (not a WinRM client).
extra=(psrpcore==0.3.1)
want=$( (cat tests/requirements.txt; printf '%s\n' "${extra[@]}") | sha256sum | cut -c1-64)
if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    echo "install-python-deps: $venv is up to date"
    exit 0
fi

python=${PYTHON:-python3}
if ! "$python" -m venv --help >/dev/null 2>&1; then
    echo "install-python-deps: $python has no venv module; installing python3-venv" >&2
    apt-get install -y python3-venv >/dev/null
fi
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt "${extra[@]}"
echo "$want" > "$stamp"
echo "install-python-deps: installed $(tr '\n' ' ' < <(grep -v '^#' tests/requirements.txt))${extra[*]} into $venv"
