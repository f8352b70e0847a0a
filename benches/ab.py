#!/usr/bin/env python3
"""Paired A/B timing of whole commands: each round runs every command once, in turn.

On a shared or drifting machine the speed of the same binary moves by a third between
minutes; runs of two builds far apart in time compare the machine, not the builds. Here every
round runs all commands back to back, and each command's CPU time (user + system, from
getrusage of the child) is divided by the last command's in the same round: the median of
those ratios is what to compare. Output goes to /dev/null; the commands are run by the shell.

usage: benches/ab.py ROUNDS NAME=COMMAND... (the last one is the reference)

example:
  benches/ab.py 20 \\
    "old=/tmp/lineage-old events /tmp/big.evtx --format jsonl -o /dev/null --quiet --threads 1" \\
    "new=target/dist/lineage events /tmp/big.evtx --format jsonl -o /dev/null --quiet --threads 1" \\
    "evtx_dump=evtx_dump -t 1 -o jsonl /tmp/big.evtx"
"""

import resource
import statistics
import subprocess
import sys
import time


def run(command):
    """Wall seconds, user seconds and system seconds of one run of `command`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, shell=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 1, 3):
        sys.exit(f"ab.py: `{command}` exited with {done.returncode}")
    return wall, after.ru_utime - before.ru_utime, after.ru_stime - before.ru_stime


def main(argv):
    if len(argv) < 3 or not argv[1].isdigit() or any("=" not in a for a in argv[2:]):
        sys.exit(__doc__)
    rounds = int(argv[1])
    commands = [a.split("=", 1) for a in argv[2:]]
    results = {name: [] for name, _ in commands}
    for _ in range(rounds):
        for name, command in commands:
            results[name].append(run(command))
    reference = commands[-1][0]
    print(f"{rounds} rounds; CPU = user + system seconds; ratio = CPU / {reference}'s in the same round")
    print("| command | wall s | CPU s | user s | system s | CPU ratio (median of rounds) |")
    print("|---|---|---|---|---|---|")
    for name, _ in commands:
        runs = results[name]
        med = lambda i: statistics.median(r[i] for r in runs)
        cpu = [r[1] + r[2] for r in runs]
        ratio = statistics.median(
            (r[1] + r[2]) / max(b[1] + b[2], 1e-9) for r, b in zip(runs, results[reference])
        )
        print(f"| {name} | {med(0):.3f} | {statistics.median(cpu):.3f} | {med(1):.3f} | {med(2):.3f} | {ratio:.3f} |")


if __name__ == "__main__":
    main(sys.argv)
