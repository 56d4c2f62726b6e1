"""Find or install the references: Debian's Postfix and Dovecot, MailDev from npm, aiosmtpd.

Theory of operation: runs before the private network namespace (it may need the network) and only
through the ordinary clients: ``apt-get`` for Debian packages, ``npm`` for MailDev.

- Debian: ``postfix`` (``smtp-source``, ``smtp-sink``, the MTA), ``dovecot-imapd`` and
  ``dovecot-pop3d``, ``chromium`` (the browser measure), ``npm`` when node has none.  Postfix is
  preseeded "No configuration": the package then writes no /etc/postfix/main.cf and starts nothing;
  the benchmark runs its own instances from their own directories.  Installing needs root; as
  another user the missing packages are named with the command to install them.
- MailDev: ``npm install maildev@<version>`` into the benchmark's cache directory
  (``$MAILFLOW_BENCH_CACHE``, default ``~/.cache/mailflow-bench``), never globally.
- aiosmtpd: a requirement of Mailflow itself, so it is in the virtualenv already.

``--no-install`` only looks.  Either way a reference that is still missing (no root, no network)
is left out of the run and RESULTS.md says so; without ``smtp-source`` there is no MX ingest.  ``versions()`` records what ran.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

MAILDEV_VERSION = "3.0.0"
DEBIAN = {"postfix": "smtp-source", "dovecot-imapd": "/usr/sbin/dovecot", "dovecot-pop3d": "/usr/lib/dovecot/pop3",
          "chromium": "/usr/bin/chromium"}


def cache_dir() -> Path:
    return Path(os.environ.get("MAILFLOW_BENCH_CACHE", Path.home() / ".cache" / "mailflow-bench"))


def _have(probe: str) -> bool:
    return Path(probe).exists() if probe.startswith("/") else shutil.which(probe) is not None \
        or Path("/usr/sbin", probe).exists()


def missing_debian() -> list[str]:
    missing = [package for package, probe in DEBIAN.items() if not _have(probe)]
    if shutil.which("node") and not shutil.which("npm"):
        missing.append("npm")
    if not shutil.which("node"):
        missing += ["nodejs", "npm"]
    return missing


def install(say) -> list[str]:
    """Install what is missing; returns the names still missing (with the reason said)."""
    missing = missing_debian()
    if missing:
        if os.geteuid() != 0:
            say(f"missing Debian packages: {' '.join(missing)}; install them with:\n"
                f"  sudo apt-get install --no-install-recommends {' '.join(missing)}")
        else:
            say(f"installing {' '.join(missing)} with apt-get")
            env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
            if "postfix" in missing:
                subprocess.run(["debconf-set-selections"], input="postfix postfix/main_mailer_type select No configuration\n",
                               text=True, check=False)
            subprocess.run(["apt-get", "update", "-qq"], env=env, check=False)
            done = subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
                                  env=env, capture_output=True, text=True)
            if done.returncode:
                say(f"apt-get failed ({done.returncode}): {done.stderr[-800:]}")
    target = cache_dir() / "maildev"
    if not (target / "node_modules" / "maildev").is_dir() and shutil.which("npm"):
        say(f"installing MailDev {MAILDEV_VERSION} from the npm registry into {target}")
        target.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["npm", "install", "--prefix", str(target), "--no-audit", "--no-fund",
                               "--loglevel=error", f"maildev@{MAILDEV_VERSION}"], capture_output=True, text=True)
        if done.returncode:
            say(f"npm install failed ({done.returncode}): {done.stderr[-800:]}")
    return missing_debian()


def _first_line(command: list[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "-"
    return (done.stdout or done.stderr).strip().splitlines()[0] if (done.stdout or done.stderr).strip() else "-"


def versions() -> dict[str, str]:
    import sys
    out = {"python": sys.version.split()[0]}
    out["postfix"] = _first_line(["postconf", "-dh", "mail_version"]) if shutil.which("postconf") else "-"
    out["dovecot"] = _first_line(["dovecot", "--version"]) if shutil.which("dovecot") else "-"
    out["node"] = _first_line(["node", "--version"]) if shutil.which("node") else "-"
    package = cache_dir() / "maildev" / "node_modules" / "maildev" / "package.json"
    if package.exists():
        import json
        out["maildev"] = json.loads(package.read_text()).get("version", "?")
    else:
        out["maildev"] = "-"
    try:
        import aiosmtpd
        out["aiosmtpd"] = aiosmtpd.__version__
    except ImportError:
        out["aiosmtpd"] = "-"
    out["chromium"] = _first_line(["/usr/bin/chromium", "--version"]) if Path("/usr/bin/chromium").exists() else "-"
    return out


def machine() -> dict[str, str]:
    import platform
    out = {"kernel": platform.release(), "cpus": str(os.cpu_count())}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                out["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                out["memory"] = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                out["os"] = line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    return out
