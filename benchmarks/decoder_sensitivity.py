"""How much do small pixel differences move the top-10 neighbours? Context for the GPU decoder's agreement.

    nice -n 10 python benchmarks/decoder_sensitivity.py [--images 1000]

nvJPEG (the GPU's decoder) and libjpeg-turbo (Pillow's) differ by a few levels per pixel (inverse DCT,
chroma upsampling). On the CPU, this script measures the same top-10 neighbour overlap and cosine
that benchmarks/gpu_extract.py reports, on the same 1,000 sample pictures as clean 224x224 JPEG files
(quality 90), against the same pictures saved at JPEG quality 95 and 85 instead: differences of the
same structured kind as two decoders' (not random per-pixel noise: on these pictures' flat black
backgrounds, a random +-1 level per pixel is texture, and moves the features far more, to a cosine
of ~0.5-0.8). And, with the same files, against other arithmetic in the resize: imgsim resizes uint8
images with the CPU's fixed-point arithmetic on every device (`exact_resize`); torchvision on a GPU
resizes in float32 and rounds to uint8 (what imgsim did on every device on 2026-11-27), and float32
without rounding leaves fractions of a level. EfficientNet-Lite0 (ImageNet weights), exact fp32 on the CPU.
Writes benchmarks/results/decoder_sensitivity.json.
"""
import argparse, json, os, sys, tempfile, time
from pathlib import Path
import numpy as np, torch
from PIL import Image
sys.path.insert(0, str(Path(__file__).resolve().parent))
from extract_speed import agreement
from imgsim.data import sample_collection, open_image
from imgsim.model import load_backbone, Runner

def features(runner, pictures, transform=None):
    transform = transform or runner.backbone.spec.transform()
    return np.concatenate([runner(torch.stack([transform(p) for p in pictures[i:i + 64]])) for i in range(0, len(pictures), 64)])

def resize_variant(spec, variant:str):
    "The evaluation transform with another resize in float32: 'rounded' (a GPU's arithmetic) or 'float' (not rounded)."
    import torchvision.transforms.v2 as T
    rounded = [T.Lambda(torch.round)] if variant == 'rounded' else []
    steps = [T.ToDtype(torch.float32), T.Resize(spec.resize, antialias=True), *rounded, T.Lambda(lambda x: x / 255)]
    return T.Compose([T.ToImage(), *steps, T.CenterCrop(spec.image_size), T.Normalize(spec.mean, spec.std)])

def jpeg(picture, quality, folder, i):
    path = folder/f"{i:05d}-{quality}.jpg"; picture.save(path, quality=quality); return open_image(path)

def main():
    p = argparse.ArgumentParser(); p.add_argument('--images', type=int, default=1000); a = p.parse_args()
    torch.set_num_threads(os.cpu_count())
    folder = Path(tempfile.mkdtemp())
    pictures = [open_image(path).resize((224, 224), Image.BICUBIC) for path in sample_collection().path[:a.images]]
    q90 = [jpeg(pic, 90, folder, i) for i, pic in enumerate(pictures)]
    runner = Runner(load_backbone('efficientnet_lite0'), 'cpu', 'fp32', 'torch')
    reference = features(runner, q90)
    result = dict(command='nice -n 10 python benchmarks/decoder_sensitivity.py ' + ' '.join(sys.argv[1:]),
                  date=time.strftime('%Y-%m-%d %H:%M'), images=len(q90), backbone='efficientnet_lite0 (ImageNet), fp32, CPU',
                  against='the quality-90 JPEG files decoded by Pillow', perturbations={})
    for quality in (95, 85):
        name, variant = f"JPEG quality {quality} instead of 90", [jpeg(pic, quality, folder, i) for i, pic in enumerate(pictures)]
        result['perturbations'][name] = agreement(features(runner, variant), reference)
        print(name, result['perturbations'][name], flush=True)
    for variant, name in (('rounded', "the same files resized in float32 and rounded (torchvision on a GPU; imgsim on 2026-11-27)"),
                          ('float', 'the same files resized in float32, not rounded')):
        result['perturbations'][name] = agreement(features(runner, q90, resize_variant(runner.backbone.spec, variant)), reference)
        print(name, result['perturbations'][name], flush=True)
    out = Path(__file__).parent/'results'/'decoder_sensitivity.json'
    out.write_text(json.dumps(result, indent=2)); print(json.dumps(result, indent=2))

if __name__ == '__main__': main()
