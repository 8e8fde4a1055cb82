"""Build the unseen-instance benchmark (chapter 16) from Debian's wallpaper packages.

    python benchmarks/instances.py [--cache ~/.cache/imgsim/wallpapers] [--views 10] [--no-update]

1. `apt-get update` (once; `--no-update` skips it), then `apt-get download` of PACKAGES into the
   cache folder and `dpkg -x` of each (nothing is installed; nothing lands in the repository).
2. Keeps the photos. The rule: a JPEG file (every PNG, WebP and SVG in these packages is rendered
   art: checked by eye on a contact sheet), not a `screenshot` preview, with fine detail (at least
   10 % of the pixels of a 256 x 256 grey thumbnail have a Laplacian of 4 levels or more: flat
   vector art and smooth gradients have less), and not one of the few JPEG artworks that pass that
   test (ARTWORK, named by eye). gnome-backgrounds 43 ships no photo (all WebP renders).
3. Reads each kept photo's licence from its package's `usr/share/doc/<package>/copyright` (the last
   DEP-5 `Files:` stanza that matches it, as the format says), and for Plasma wallpapers also the
   `License` of the wallpaper's `metadata.json`.
4. Writes the views with `imgsim.views.view_collection` to `<cache>/views-v1/` (its
   `collection.csv` is the collection table), and `results/instances.json`: the packages and their
   versions, the rule, each kept photo with its licence, and the counts.
Leaves out scikit-image, scikit-learn and imageio sample photos (kept for an independent check).
"""
import argparse, fnmatch, json, re, subprocess, sys, time
from pathlib import Path
import numpy as np
from PIL import Image
from imgsim.data import open_image
from imgsim.views import distinct_photos, view_collection, photo_key

PACKAGES = ['plasma-workspace-wallpapers', 'ukui-wallpapers', 'mate-backgrounds',
            'sway-backgrounds', 'lomiri-wallpapers', 'lomiri-wallpapers-16.04', 'lomiri-wallpapers-20.04',
            'gnome-backgrounds']
ARTWORK = {'Elephants', 'Autumn', 'Flow', 'Grey', 'Honeywave', 'PastelHills', 'SafeLanding',
           'Shell', '2004default', 'firstgeneration', 'rhythm', 'string', 'the-mouse'}
MIN_DETAIL = 0.10

def fetch(cache:Path, update:bool)->dict:
    "Download and unpack the packages; their versions."
    debs = cache/'debs'; debs.mkdir(parents=True, exist_ok=True)
    if update: subprocess.run(['apt-get', 'update', '-qq'], check=True)
    missing = [p for p in PACKAGES if not list(debs.glob(f'{p}_*.deb'))]
    if missing: subprocess.run(['apt-get', 'download', *missing], cwd=debs, check=True)
    versions = {}
    for package in PACKAGES:
        deb = sorted(debs.glob(f'{package}_*.deb'))[-1]
        versions[package] = deb.name.split('_')[1].replace('%3a', ':')
        tree = cache/'tree'/package
        tree.parent.mkdir(exist_ok=True)
        if not tree.exists(): subprocess.run(['dpkg', '-x', str(deb), str(tree)], check=True)
    return versions

def detail_share(path:Path)->float:
    "Share of a 256 x 256 grey thumbnail's pixels whose Laplacian is at least 4 levels."
    grey = np.asarray(open_image(path, draft_size=512).convert('L').resize((256, 256)), float)
    laplacian = (4 * grey[1:-1, 1:-1] - grey[:-2, 1:-1] - grey[2:, 1:-1]
                 - grey[1:-1, :-2] - grey[1:-1, 2:])
    return float(np.mean(np.abs(laplacian) >= 4))

def is_photo(path:Path)->bool:
    "The rule of step 2."
    jpeg = path.suffix.lower() in ('.jpg', '.jpeg') and 'screenshot' not in path.name
    return jpeg and photo_key(path) not in ARTWORK and detail_share(path) >= MIN_DETAIL

def licence(tree:Path, package:str, path:Path)->str:
    "The licence the package's copyright file gives `path` (the last matching stanza)."
    text = (tree/'usr/share/doc'/package/'copyright').read_text(errors='replace')
    found = None
    for stanza in re.split(r'\n\s*\n', text):
        files = re.search(r'^Files:(.*(?:\n[ \t].*)*)', stanza, re.M)
        name = re.search(r'^License:\s*(\S.*)', stanza, re.M)
        if not (files and name): continue
        patterns = files[1].split()
        def matches(p): return p == '*' or Path(p).name == path.name or (
            '/' not in p and fnmatch.fnmatch(path.name, p))  # not debian/*, po/*: other files
        if any(map(matches, patterns)):
            found = name[1].strip()
    if found is None and 'Copyright' in text: found = 'not machine-readable: see the copyright file'
    metadata = next((p/'metadata.json' for p in path.parents if (p/'metadata.json').exists()), None)
    if metadata:
        plasma = json.loads(metadata.read_text()).get('KPlugin', {}).get('License')
        if plasma: found = f"{found}; the wallpaper's metadata.json: {plasma}"
    return found

def main():
    p = argparse.ArgumentParser()
    p.add_argument('--cache', default='~/.cache/imgsim/wallpapers')
    p.add_argument('--views', type=int, default=10); p.add_argument('--seed', type=int, default=0)
    p.add_argument('--no-update', action='store_true')
    a = p.parse_args()
    cache = Path(a.cache).expanduser()
    versions = fetch(cache, not a.no_update)
    files = sorted(f for f in (cache/'tree').rglob('*') if f.is_file() or f.is_symlink())
    images = [f for f in files if f.suffix.lower() in ('.jpg', '.jpeg', '.png', '.webp', '.svg')]
    photos = [f for f in images if f.exists() and is_photo(f)]
    distinct = distinct_photos(photos)
    kept = []
    for path in distinct:
        package = path.relative_to((cache/'tree').resolve()).parts[0]
        kept.append(dict(package=package, file=str(path.relative_to((cache/'tree').resolve())),
                         key=photo_key(path), licence=licence(cache/'tree'/package, package, path)))
    table = view_collection(distinct, cache/'views-v1', views=a.views, seed=a.seed)
    counts = dict(image_files=len(images), photo_files=len(photos), distinct_photos=len(distinct),
                  instances=int(table.label.nunique()), views=len(table),
                  sides=table.side.value_counts().to_dict())
    result = dict(command='python benchmarks/instances.py ' + ' '.join(sys.argv[1:]),
                  date=time.strftime('%Y-%m-%d %H:%M'), packages=versions,
                  rule=dict(jpeg_only=True, min_detail=MIN_DETAIL, artwork=sorted(ARTWORK)),
                  counts=counts, photos=kept, collection=str(cache/'views-v1'/'collection.csv'))
    out = Path(__file__).parent/'results'/'instances.json'
    out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + '\n')
    print(json.dumps(counts))
    for k in kept: print(f"{k['package']:28s} {k['key']:40s} {k['licence']}")

if __name__ == '__main__': main()
