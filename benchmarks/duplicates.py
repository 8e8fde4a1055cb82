"""Near-duplicate finding (chapter 18): precision and recall on held-out photos, and the self-join's
time and peak memory on random vectors.

    python benchmarks/duplicates.py [--part quality scale] [--seeds 0 1 2] [--copies 5]
                                    [--rows 100000 1000000] [--outer-blocks 4]

1. **Quality.** Needs the unseen-instance benchmark (`python benchmarks/instances.py`, chapter 16).
   Each of its distinct photos becomes an original (shrunk to a 768 px short side, JPEG 92) and
   `--copies` near-copies of it, each drawn with a seeded generator: at random a crop keeping
   90-100 % of the area (same aspect ratio), a saturation (0.6-1.4), brightness (0.75-1.25) or
   contrast (0.75-1.25) change (each with probability 0.4), grey (0.1); always a resize to 25-100 %
   and a JPEG re-encoding at quality 30-95. They are mixed with the photo's 40 hard views from
   chapter 16 (which are NOT duplicates of anything: a pair of views of one object counts as a false
   positive).
   Written to `<cache>/duplicates-v1/` with its `collection.csv`.
   Duplicates = pairs of {original, copies} of one photo. Frozen EfficientNet-Lite0 (ImageNet
   weights), average-pooled features, L2-normalised, in an in-memory `GalleryStore`;
   `near_pairs` gives every pair's cosine, `file_hashes` every image's hash. Per seed, half the
   photos are for calibration (pairs with both images from them) and the other half held out
   (pairs with both images from them); `calibrate_threshold` (precision >= 0.98 on calibration)
   picks each method's threshold, scored on the held-out pairs: cosine alone, the hash alone
   (and with the classic 8 x 8 frequencies), and the library's two steps (cosine >=
   CANDIDATE_THRESHOLD, then the hash), calibrated and at the library's DUPLICATE_THRESHOLD.
2. **Scale.** Random unit vectors (`--rows` x 512, float32, seeded) with 100 planted near-copies,
   in the same in-memory store; `near_pairs` at CANDIDATE_THRESHOLD, in a child process per size:
   wall time, and peak resident memory above the gallery (Linux: VmHWM after resetting it, less
   VmRSS with the gallery loaded). With `--outer-blocks K` only the first K blocks are joined
   against the rest (the same kernel and tiles, so the same peak), and the whole join's time is
   extrapolated from the time per block pair; used for 10^6, whose full join takes over an hour
   on 2 cores.

Writes results/duplicates.json, results/duplicates.md and results/duplicates.png (the false
positives of the library's two steps at its threshold, over all pairs, best first).
"""
import argparse, json, math, os, platform, subprocess, sys, time
from pathlib import Path
import numpy as np, pandas as pd
from PIL import Image, ImageEnhance, ImageOps
import torch
from imgsim.data import open_image, load_manifest
from imgsim.gallery import GalleryStore
from imgsim.views import photo_key
from imgsim.duplicates import _DCT, HASH_SIDE
from imgsim.duplicates import (near_pairs, file_hashes, verify_pairs, calibrate_threshold,
                               precision_recall, plot_pairs, CANDIDATE_THRESHOLD,
                               DUPLICATE_THRESHOLD)

HERE = Path(__file__).parent
WORK_SIDE = 768

class MemoryGallery(GalleryStore):
    "Vectors and rows held in memory (the benchmark's gallery store)."
    def __init__(self, vectors, paths):
        self.vectors = np.ascontiguousarray(vectors, np.float32)
        self.rows = pd.DataFrame({'id': np.arange(len(paths)), 'path': paths, 'label': ''})
    def __len__(self): return len(self.rows)
    def __repr__(self): return f"MemoryGallery({len(self)} rows)"
    def iterate(self, rows=65_536):
        for start in range(0, len(self.rows), rows):
            yield self.vectors[start:start + rows], self.rows.iloc[start:start + rows]

# ---------------------------------------------------------------- quality
def near_copy(photo:Image.Image, rng:np.random.Generator):
    "A near-copy of `photo`, its JPEG quality, and the steps drawn."
    steps, (w, h) = {}, photo.size
    if rng.random() < 0.5:
        share = rng.uniform(0.9, 1.0); k = math.sqrt(share)
        cw, ch = round(w * k), round(h * k)
        left, top = rng.integers(0, w - cw + 1), rng.integers(0, h - ch + 1)
        photo = photo.crop((left, top, left + cw, top + ch)); steps['crop'] = round(share, 3)
    for name, enhancer, low, high in [('colour', ImageEnhance.Color, 0.6, 1.4),
                                      ('brightness', ImageEnhance.Brightness, 0.75, 1.25),
                                      ('contrast', ImageEnhance.Contrast, 0.75, 1.25)]:
        if rng.random() < 0.4:
            factor = rng.uniform(low, high)
            photo = enhancer(photo).enhance(factor); steps[name] = round(factor, 3)
    if rng.random() < 0.1:
        photo = ImageOps.grayscale(photo).convert('RGB'); steps['grey'] = True
    factor = rng.uniform(0.25, 1.0); steps['resize'] = round(factor, 3)
    size = (max(1, round(photo.width * factor)), max(1, round(photo.height * factor)))
    photo = photo.resize(size, Image.LANCZOS)
    steps['jpeg'] = int(rng.integers(30, 96))
    return photo, steps['jpeg'], steps

def build(views:pd.DataFrame, dest:Path, copies:int, seed:int=0)->pd.DataFrame:
    "Originals and near-copies of each photo of `views`, with the views: a collection table."
    if (dest/'collection.csv').exists(): return pd.read_csv(dest/'collection.csv')
    dest.mkdir(parents=True, exist_ok=True)
    rng, rows = np.random.default_rng(seed), []
    for source in sorted(views.source.unique()):
        key = photo_key(source)
        photo = open_image(source, draft_size=WORK_SIDE)
        scale = min(1, WORK_SIDE / min(photo.size))
        size = (round(photo.width * scale), round(photo.height * scale))
        photo = photo.resize(size, Image.LANCZOS)
        (dest/key).mkdir(exist_ok=True)
        photo.save(dest/key/'original.jpg', quality=92)
        rows.append(dict(path=str(dest/key/'original.jpg'), photo=key, kind='original',
                         instance='', steps='{}'))
        for c in range(copies):
            image, quality, steps = near_copy(photo, rng)
            image.save(dest/key/f'copy-{c}.jpg', quality=quality)
            rows.append(dict(path=str(dest/key/f'copy-{c}.jpg'), photo=key, kind='copy',
                             instance='', steps=json.dumps(steps)))
    for r in views.itertuples():
        rows.append(dict(path=str(r.path), photo=photo_key(r.source), kind='view',
                         instance=r.label, steps='{}'))
    table = pd.DataFrame(rows).assign(label=lambda t: t.photo)
    table.to_csv(dest/'collection.csv', index=False)
    return table

def classic_hash(path)->np.ndarray:
    "The hash with the classic 8 x 8 low frequencies (63 bits) instead of the library's 12 x 12."
    grey = open_image(path, draft_size=4 * HASH_SIDE).convert('L').resize((HASH_SIDE, HASH_SIDE),
                                                                          Image.BOX)
    low = (_DCT @ np.asarray(grey, np.float64) @ _DCT.T)[:8, :8].ravel()[1:]
    return low > np.median(low)

def labelled_pairs(table:pd.DataFrame, features:np.ndarray)->pd.DataFrame:
    "Every pair with its cosine, its hash match, whether it is a duplicate, and what kind of pair."
    store = MemoryGallery(features / np.linalg.norm(features, axis=1, keepdims=True),
                          table.path.tolist())
    pairs = near_pairs(store, 0.0, max_pairs=10**8, progress=False)  # every pair (cosines >= 0)
    hashes = file_hashes(table.path, progress=False)
    bits = np.stack([hashes[p] for p in table.path])
    a, b = pairs.id_a.to_numpy(), pairs.id_b.to_numpy()
    pairs['match'] = (bits[a] == bits[b]).mean(1)
    classic = np.stack([classic_hash(p) for p in table.path])
    pairs['match_8x8'] = (classic[a] == classic[b]).mean(1)
    photo, kind = table.photo.to_numpy(), table.kind.to_numpy()
    instance = table.instance.fillna('').to_numpy()
    same_photo = photo[a] == photo[b]
    pairs['duplicate'] = same_photo & (kind[a] != 'view') & (kind[b] != 'view')
    both_views = (kind[a] == 'view') & (kind[b] == 'view')
    pairs['kind'] = np.select([pairs.duplicate, both_views & (instance[a] == instance[b]),
                               same_photo], ['duplicate', 'views of one object', 'same photo'],
                              'different photos')
    pairs['photo_a'], pairs['photo_b'] = photo[a], photo[b]
    return pairs

def scored(pairs, scores, calibration, test, fixed=None)->dict:
    "Calibrated threshold, calibration and held-out precision/recall, held-out false positives."
    threshold, p_cal, r_cal = calibrate_threshold(scores[calibration],
                                                  pairs.duplicate[calibration], 0.98)
    out = dict(threshold=round(threshold, 4), calibration=dict(precision=round(p_cal, 4),
                                                               recall=round(r_cal, 4)))
    for name, t in [('held_out', threshold)] + ([('held_out_at_default', fixed)] if fixed else []):
        p, r = precision_recall(scores[test], pairs.duplicate[test], t)
        called = test & (np.nan_to_num(scores, nan=-np.inf) >= t) & ~pairs.duplicate
        out[name] = dict(precision=round(p, 4), recall=round(r, 4),
                         false_positives=pairs.kind[called].value_counts().to_dict())
    return out

def quality(a)->dict:
    views_csv = Path(a.cache).expanduser()/'views-v1'/'collection.csv'
    if not views_csv.exists(): sys.exit(f"{views_csv} is missing: run benchmarks/instances.py")
    table = build(load_manifest(views_csv), Path(a.cache).expanduser()/'duplicates-v1', a.copies)
    from imgsim.model import load_backbone
    from imgsim.extraction import extract_features
    features, kept = extract_features(table, load_backbone('efficientnet_lite0'), progress=False)
    assert len(kept) == len(table), "every image must be readable"
    pairs = labelled_pairs(table, features)
    cosine, match = pairs.cosine.to_numpy(np.float64), pairs.match.to_numpy(np.float64)
    two_steps = np.where(cosine >= CANDIDATE_THRESHOLD, match, np.nan)
    duplicate = pairs.duplicate.to_numpy()
    result = dict(images=table.kind.value_counts().to_dict(), photos=int(table.photo.nunique()),
                  pairs=len(pairs), duplicate_pairs=int(duplicate.sum()),
                  view_pairs_of_one_object=int((pairs.kind == 'views of one object').sum()),
                  candidates=dict(threshold=CANDIDATE_THRESHOLD,
                                  pairs=int((cosine >= CANDIDATE_THRESHOLD).sum()),
                                  duplicates_kept=round(float((cosine[duplicate]
                                                               >= CANDIDATE_THRESHOLD).mean()), 4)),
                  ranges={k: dict(min=round(float(s[m].min()), 4), max=round(float(s[m].max()), 4))
                          for name, s in (('cosine', cosine), ('match', match))
                          for k, m in ((f'{name} of duplicates', duplicate),
                                       (f'{name} of views of one object',
                                        (pairs.kind == 'views of one object').to_numpy()))},
                  seeds={})
    photos = np.array(sorted(table.photo.unique()))
    for seed in a.seeds:
        held = set(np.random.default_rng(seed).choice(photos, len(photos) // 2, replace=False))
        in_a, in_b = pairs.photo_a.isin(held).to_numpy(), pairs.photo_b.isin(held).to_numpy()
        calibration, test = ~in_a & ~in_b, in_a & in_b
        result['seeds'][seed] = {
            'cosine alone': scored(pairs, cosine, calibration, test),
            'hash alone': scored(pairs, match, calibration, test),
            'hash alone, 8 x 8 frequencies': scored(pairs, pairs.match_8x8.to_numpy(np.float64),
                                                    calibration, test),
            'candidates then hash (the library)': scored(pairs, two_steps, calibration, test,
                                                         DUPLICATE_THRESHOLD)}
        print('seed', seed, json.dumps(result['seeds'][seed]), flush=True)
    wrong = pairs[(two_steps >= DUPLICATE_THRESHOLD) & ~duplicate].sort_values('match',
                                                                                 ascending=False)
    result['false_positives_at_default'] = wrong.kind.value_counts().to_dict()
    fig = plot_pairs(wrong.assign(path_a=wrong.path_a.astype(str)), n=6, size=1.6)
    fig.savefig(HERE/'results'/'duplicates.png', dpi=72)
    return result

# ---------------------------------------------------------------- scale
def _status(field:str)->int:
    "A field of /proc/self/status, in bytes."
    for line in Path('/proc/self/status').read_text().splitlines():
        if line.startswith(field + ':'): return int(line.split()[1]) * 1024
    raise KeyError(field)

class FirstBlocks(MemoryGallery):
    "A gallery whose first `iterate` (the join's outer loop) stops after `blocks` blocks."
    def __init__(self, vectors, paths, blocks):
        super().__init__(vectors, paths); self.blocks, self.calls = blocks, 0
    def iterate(self, rows=65_536):
        self.calls += 1
        outer = self.calls == 1  # (the count moves on while this generator is still running)
        for n, chunk in enumerate(super().iterate(rows)):
            if outer and self.blocks and n >= self.blocks: return
            yield chunk

def scale_child(rows:int, dims:int, outer_blocks:int)->dict:
    "One size, in this process: the join's time and its peak memory above the gallery."
    torch.set_num_threads(2)
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((rows, dims), dtype=np.float32)
    planted = rng.choice(rows, 200, replace=False)
    vectors[planted[100:]] = vectors[planted[:100]] + 0.3 * rng.standard_normal((100, dims),
                                                                               dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    store = FirstBlocks(vectors, np.char.add('v', np.arange(rows).astype(str)).astype(object),
                        outer_blocks)
    block_rows = 16_384
    blocks = -(-rows // block_rows)
    Path('/proc/self/clear_refs').write_text('5')  # the peak (VmHWM) starts again from here
    base = _status('VmRSS')
    start = time.perf_counter()
    pairs = near_pairs(store, CANDIDATE_THRESHOLD, block_rows=block_rows, progress=False)
    seconds = time.perf_counter() - start
    peak = _status('VmHWM') - base
    done = sum(blocks - a for a in range(min(outer_blocks or blocks, blocks)))
    total = blocks * (blocks + 1) // 2
    found = set(zip(pairs.id_a, pairs.id_b))
    expected = {tuple(sorted((int(x), int(y)))) for x, y in zip(planted[:100], planted[100:])}
    out = dict(rows=rows, dims=dims, gallery_mb=round(vectors.nbytes / 2**20),
               block_pairs_done=done, block_pairs_total=total, seconds=round(seconds, 1),
               peak_above_gallery_mb=round(peak / 2**20), pairs=len(pairs))
    if done == total:
        out['planted_found'] = f"{len(found & expected)}/{len(expected)}"
    else:
        out['seconds_extrapolated'] = round(seconds * total / done)
        out['planted_found_in_joined_blocks'] = len(found & expected)
    return out

def scale(a)->list:
    results = []
    for rows in a.rows:
        outer = a.outer_blocks if rows > 200_000 else 0
        code = (f"import json, sys; sys.path.insert(0, {str(HERE)!r}); import duplicates; "
                f"print(json.dumps(duplicates.scale_child({rows}, 512, {outer})))")
        done = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
        if done.returncode: sys.exit(done.stderr)
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(json.dumps(results[-1]), flush=True)
    return results

# ---------------------------------------------------------------- report
def cpu()->str:
    for line in Path('/proc/cpuinfo').read_text().splitlines():
        if line.startswith('model name'): return line.split(':', 1)[1].strip()
    return platform.processor()

def markdown(result:dict)->str:
    lines = [f"# Near-duplicates (chapter 18)", "",
             f"`{result['command']}` on {result['date']}, {result['cpu']}, "
             f"{os.cpu_count()} cores.", ""]
    q = result.get('quality')
    if q:
        lines += [f"**Quality**: {q['photos']} photos; images {q['images']}; {q['pairs']:,} pairs, "
                  f"{q['duplicate_pairs']} of them duplicates and "
                  f"{q['view_pairs_of_one_object']:,} pairs of views of one object (hard "
                  "negatives). Threshold chosen on half the photos (precision >= 0.98 there), "
                  "scored on the other half.", "",
                  "| seed | method | threshold | held-out precision | held-out recall | "
                  "held-out false positives |", "|---|---|---|---|---|---|"]
        for seed, methods in q['seeds'].items():
            for name, m in methods.items():
                h = m['held_out']
                lines.append(f"| {seed} | {name} | {m['threshold']} | {h['precision']} | "
                             f"{h['recall']} | {h['false_positives']} |")
                if 'held_out_at_default' in m:
                    d = m['held_out_at_default']
                    lines.append(f"| {seed} | {name}, library default {DUPLICATE_THRESHOLD} | "
                                 f"{DUPLICATE_THRESHOLD} | {d['precision']} | {d['recall']} | "
                                 f"{d['false_positives']} |")
        lines += ["", f"Candidates: cosine >= {q['candidates']['threshold']} keeps "
                  f"{q['candidates']['pairs']:,} pairs and "
                  f"{q['candidates']['duplicates_kept']:.1%} of the duplicates. "
                  f"Ranges: {q['ranges']}.", "",
                  "False positives at the default over all pairs: "
                  f"{q['false_positives_at_default']} (the top ones in duplicates.png).", ""]
    s = result.get('scale')
    if s:
        lines += ["**Scale** (random unit vectors, 512-d, threshold "
                  f"{CANDIDATE_THRESHOLD}):", "",
                  "| rows | gallery MB | block pairs joined | seconds | seconds, whole join | "
                  "peak above gallery MB | planted pairs found |", "|---|---|---|---|---|---|---|"]
        for r in s:
            whole = r.get('seconds_extrapolated', r['seconds'])
            found = r.get('planted_found',
                          f"{r.get('planted_found_in_joined_blocks')} (joined blocks)")
            lines.append(f"| {r['rows']:,} | {r['gallery_mb']} | {r['block_pairs_done']}/"
                         f"{r['block_pairs_total']} | {r['seconds']} | {whole}"
                         f"{' (extrapolated)' if 'seconds_extrapolated' in r else ''} | "
                         f"{r['peak_above_gallery_mb']} | {found} |")
    return '\n'.join(lines) + '\n'

def main():
    p = argparse.ArgumentParser()
    p.add_argument('--part', nargs='+', default=['quality', 'scale'], choices=['quality', 'scale'])
    p.add_argument('--cache', default='~/.cache/imgsim/wallpapers')
    p.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    p.add_argument('--copies', type=int, default=5)
    p.add_argument('--rows', nargs='+', type=int, default=[100_000, 1_000_000])
    p.add_argument('--outer-blocks', type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(2)
    out = HERE/'results'/'duplicates.json'
    result = json.loads(out.read_text()) if out.exists() else {}
    result.update(command=' '.join(['python benchmarks/duplicates.py', *sys.argv[1:]]),
                  date=time.strftime('%Y-%m-%d %H:%M'), cpu=cpu())
    if 'quality' in a.part: result['quality'] = quality(a)
    if 'scale' in a.part: result['scale'] = scale(a)
    out.write_text(json.dumps(result, indent=1, default=str) + '\n')
    (HERE/'results'/'duplicates.md').write_text(markdown(result))
    print(markdown(result))

if __name__ == '__main__': main()
