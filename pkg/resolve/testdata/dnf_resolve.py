# Resolves many install requests against one repository with dnf's own
# Python API (dnf.Base.install + resolve, what `dnf install` calls), so the
# differential test can ask dnf hundreds of questions per process.
# Usage: dnf_resolve.py REPO INSTALLROOT CACHEDIR BEST < requests.json
# Input: [["spec", ...], ...]; output: one JSON list, per request either
# ["name-evr", ...] (sorted) or {"error": "..."}.
import json
import os
import sys

import dnf
import dnf.exceptions

repo, root, cache, best = sys.argv[1:5]
reqs = json.load(sys.stdin)

base = dnf.Base()
c = base.conf
c.installroot = root
c.cachedir = cache
c.reposdir = [os.path.join(cache, "no-repos.d")]
c.install_weak_deps = False
c.best = best == "1"
c.gpgcheck = False
c.substitutions["releasever"] = "1"
base.repos.add_new_repo("t", c, baseurl=["file://" + repo])
base.fill_sack(load_system_repo=True)

out = []
for specs in reqs:
    base.reset(goal=True)
    try:
        for s in specs:
            base.install(s)
        base.resolve()
        out.append(sorted("%s-%s" % (p.name, p.evr) for p in base.transaction.install_set))
    except dnf.exceptions.Error as e:
        out.append({"error": str(e)})
json.dump(out, sys.stdout)
