#!/usr/bin/env python3
"""Rewrites a CUDA source (kernels/cuda/*.cu) into C++ that g++ compiles against the emulator
shim (tools/emulate_cuda/shim/cuda_runtime.h). Usage: transform.py SRC.cu REL_PATH > OUT.cpp

- `name<targs><<<grid, block[, smem[, stream]]>>>(args)` becomes
  `::emu::launch(dim3(grid), dim3(block), smem, stream, [&](auto&&... a) { name<targs>(a...); }, args)`:
  the arguments are evaluated once on the host and copied per thread, like a real launch.
- `__shared__ T name[...];` becomes a function-local static registered with the emulator, which
  poisons it at every block start (blocks run one at a time, so one static per kernel is the
  block's shared memory).
Line numbers are kept (each rewrite keeps its newlines, and a #line directive names the source),
so compiler errors and emulator messages point at the .cu file.
"""
import re
import sys


def split_top(text):
    """Splits at commas outside (), [] and {} (template arguments in a launch configuration are
    not expected at the top level)."""
    parts, depth, cur = [], 0, ''
    for c in text:
        if c in '([{':
            depth += 1
        elif c in ')]}':
            depth -= 1
        if c == ',' and depth == 0:
            parts.append(cur)
            cur = ''
        else:
            cur += c
    parts.append(cur)
    return [p.strip() for p in parts]


def in_line_comment(src, pos):
    start = src.rfind('\n', 0, pos) + 1
    return '//' in src[start:pos]


def rewrite_launches(src):
    out, i = [], 0
    while True:
        k = src.find('<<<', i)
        if k < 0:
            out.append(src[i:])
            break
        if in_line_comment(src, k):
            out.append(src[i:k + 3])
            i = k + 3
            continue
        # Back over the kernel name and its template arguments.
        j, depth = k, 0
        while True:
            c = src[j - 1]
            if c == '>':
                depth += 1
            elif c == '<' and depth > 0:
                depth -= 1
            elif not (depth > 0 or c.isalnum() or c in '_:'):
                break
            j -= 1
        name = src[j:k].strip()
        e = src.index('>>>', k)
        cfg = split_top(src[k + 3:e])
        if not 2 <= len(cfg) <= 4:
            sys.exit(f'transform.py: cannot parse launch configuration {src[k:e + 3]!r}')
        p = e + 3
        while src[p].isspace():
            p += 1
        if src[p] != '(':
            sys.exit(f'transform.py: no argument list after {src[j:p]!r}')
        depth, q = 0, p
        while True:
            if src[q] == '(':
                depth += 1
            elif src[q] == ')':
                depth -= 1
                if depth == 0:
                    break
            q += 1
        args = src[p + 1:q].strip()
        smem = cfg[2] if len(cfg) > 2 else '0'
        stream = cfg[3] if len(cfg) > 3 else 'nullptr'
        call = (f'::emu::launch(dim3({cfg[0]}), dim3({cfg[1]}), {smem}, {stream}, '
                f'[&](auto&&... emu_arg) {{ {name}(emu_arg...); }}' + (f', {args})' if args else ')'))
        out.append(src[i:j])
        out.append(call + '\n' * src[j:q + 1].count('\n'))
        i = q + 1
    return ''.join(out)


SHARED = re.compile(r'__shared__\s+([^;()]*?)\s*\b(\w+)\s*((?:\[[^\]]*\]\s*)+);')


def rewrite_shared(src):
    return SHARED.sub(lambda m: f'static {m.group(1)} {m.group(2)}{m.group(3)}; '
                      f'::emu::shared_region({m.group(2)}, sizeof({m.group(2)}));', src)


def main():
    src = open(sys.argv[1]).read()
    rel = sys.argv[2] if len(sys.argv) > 2 else sys.argv[1]
    body = rewrite_shared(rewrite_launches(src))
    sys.stdout.write(f'#include <cuda_runtime.h>\n#line 1 "{rel}"\n' + body)


if __name__ == '__main__':
    main()
