#!/usr/bin/env python3
"""The pull request comment of plan.yml: which environments a change affects, the comment
built from each environment's `ferry plan -o markdown`, and that one comment kept up to date.

  ferry_plan_comment.py affected < changed-paths   -> environments=["dev", ...]  ($GITHUB_OUTPUT)
  ferry_plan_comment.py body DIR                   -> the comment (Markdown) on stdout
  ferry_plan_comment.py upsert BODY_FILE           -> edits the comment carrying the marker, or
                                                      creates it (gh api; GH_REPO, PR_NUMBER)

Tested by controller/ferry/tests/plan_comment.rs with fake plans and a fake `gh`.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

# The environments Ferry plans on ECS (manifests/local runs on a developer's machine).
ENVIRONMENTS = ["dev", "staging", "prod"]
# Identifies the one comment this workflow owns on a pull request.
MARKER = "<!-- ferry-plan -->"
# GitHub refuses comments over 65536 characters.
LIMIT = 60000


def affected(paths):
    """Environments whose manifests a change touches; the shared base touches them all."""
    found = set()
    for path in paths:
        parts = path.strip().split("/")
        if len(parts) < 3 or parts[0] != "manifests":
            continue
        if parts[1] == "base":
            found.update(ENVIRONMENTS)
        elif parts[1] in ENVIRONMENTS:
            found.add(parts[1])
    return [env for env in ENVIRONMENTS if env in found]


def body(directory, commit="", run_url=""):
    """The comment: the marker, a header, each environment's plan (or a note when it is missing)."""
    directory = Path(directory)
    lines = [MARKER, "### Ferry plan", ""]
    if commit:
        lines.append(f"For {commit}" + (f" ([run]({run_url}))" if run_url else "") + ".")
        lines.append("")
    plans = sorted(directory.glob("*.md"))
    if not plans:
        lines.append("No environment's manifests changed.")
    sections = []
    for plan in plans:
        text = plan.read_text(encoding="utf-8", errors="replace").strip()
        if not text:
            text = f"#### `{plan.stem}`: ⚠ no plan (the job failed before planning; see the run)"
        sections.append(text)
    text = "\n".join(lines) + "\n\n".join(sections) + "\n"
    if len(text) > LIMIT:
        text = text[:LIMIT] + "\n\n… cut at 60 000 characters; the full plans are in the run's artifacts.\n"
    return text


def gh(*args, stdin=None):
    out = subprocess.run(["gh", *args], input=stdin, capture_output=True, text=True, check=True)
    return out.stdout


def upsert(body_file):
    """Edit this workflow's comment on the pull request, or create it: always one comment."""
    repo = os.environ["GH_REPO"]
    number = os.environ["PR_NUMBER"]
    text = Path(body_file).read_text(encoding="utf-8")
    pages = gh("api", "--paginate", "--slurp", f"repos/{repo}/issues/{number}/comments")
    comments = [c for page in json.loads(pages) for c in page]
    mine = [c for c in comments if MARKER in (c.get("body") or "")]
    payload = json.dumps({"body": text})
    if mine:
        gh("api", "--method", "PATCH", f"repos/{repo}/issues/comments/{mine[0]['id']}", "--input", "-", stdin=payload)
        return f"updated comment {mine[0]['id']}"
    gh("api", "--method", "POST", f"repos/{repo}/issues/{number}/comments", "--input", "-", stdin=payload)
    return "created a comment"


def main(argv):
    if len(argv) == 2 and argv[1] == "affected":
        print("environments=" + json.dumps(affected(sys.stdin.read().splitlines())))
    elif len(argv) == 3 and argv[1] == "body":
        sys.stdout.write(body(argv[2], os.environ.get("COMMIT", ""), os.environ.get("RUN_URL", "")))
    elif len(argv) == 3 and argv[1] == "upsert":
        print(upsert(argv[2]))
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
