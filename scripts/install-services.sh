#!/usr/bin/env bash
# Installs the external programs the test suite drives (real tools, not mocks):
#   git      the git CLI; `git daemon` serves bare repositories on loopback for apply/promote
#   ssh-keygen  (openssh-client) makes the key of the commit-signing test
#   kubectl  `kubectl kustomize` builds every generated overlay (Kustomize v5)
#   docker-registry  Debian's OCI registry (distribution 2.8.2, apt package docker-registry);
#            the registry tests start their own instance on a free loopback port, so the
#            system service the package enables (port 5000) is stopped and disabled here
#   openssl  makes the throwaway CA and certificates of the TLS registry tests
#   nodejs, npm  the editor grammar tests run the VS Code extension's TextMate grammar in
#            vscode-textmate (npm ci installs it into editors/vscode/node_modules)
#   neovim   the editors/nvim runtime files are tested in a headless Neovim (Debian: 0.7)
# Missing tools are installed with apt-get when running as root; otherwise the script says
# what is missing. Tests that need a tool fail in CI (CI=true) when it is absent.
set -euo pipefail
missing=()
command -v git >/dev/null 2>&1 || missing+=(git)
command -v kubectl >/dev/null 2>&1 || missing+=(kubectl)
command -v docker-registry >/dev/null 2>&1 || missing+=(docker-registry)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v ssh-keygen >/dev/null 2>&1 || missing+=(openssh-client)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v nvim >/dev/null 2>&1 || missing+=(neovim)
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  apt-get update -qq || true
  for pkg in "${missing[@]}"; do
    apt-get install -y -qq "$pkg" >/dev/null || echo "install-services: could not install $pkg" >&2
  done
  if [[ " ${missing[*]} " == *" docker-registry "* ]] && command -v systemctl >/dev/null 2>&1 \
      && [ -d /run/systemd/system ]; then
    systemctl disable --now docker-registry.service >/dev/null 2>&1 || true
  fi
fi
still=()
for tool in "${missing[@]}"; do
  [ "$tool" = openssh-client ] && tool=ssh-keygen
  [ "$tool" = nodejs ] && tool=node
  [ "$tool" = neovim ] && tool=nvim
  command -v "$tool" >/dev/null 2>&1 || still+=("$tool")
done
if [ ${#still[@]} -gt 0 ]; then
  echo "install-services: missing ${still[*]}; tests that need them will fail in CI" >&2
  [ "${CI:-}" = "true" ] && exit 1
fi
exit 0
