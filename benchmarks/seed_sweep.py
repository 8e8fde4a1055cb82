"""Run the notebooks' seeded numeric tests over many seeds: the worst error against each tolerance.

    python benchmarks/seed_sweep.py [--seeds 200] [--out benchmarks/results/seed_sweep.json]

Each test below is the notebook's own test cell with its seed made a parameter. A tolerance is safe
when the worst error over 200 seeds stays well below it: the notebooks pin one seed, so CI is
deterministic either way, but a bound that holds only for the pinned seed would break on any change
of the test data. The float32 fold comparison that made CI red (issue 10) is measured too, for the record.
"""
import argparse, json, time, sys
from pathlib import Path
import numpy as np, torch, torch.nn.functional as F
from sklearn.metrics.pairwise import cosine_similarity
from imgsim.model import EmbeddingHead, Runner, load_backbone, cpu_has_bf16, _has_openvino
from imgsim.train import embedding_spread, feature_standardization, fold_standardization
from imgsim.search import search

def head_norm(seed):  # 01_model: the head's output has unit length (test_close, eps 1e-5)
    torch.manual_seed(seed)
    with torch.no_grad(): out = EmbeddingHead(2048)(torch.randn(8, 2048))
    return {'unit_norm': (out.norm(dim=1) - 1).abs().max().item()}

def runner_fp32(seed, net):  # 01_model: Runner fp32 equals the module (eps 1e-4)
    torch.manual_seed(seed); x = torch.randn(4, 3, 224, 224)
    with torch.no_grad(): direct = net(x).numpy()
    return {'runner_fp32': float(np.abs(Runner(net, precision='fp32', engine='torch')(x) - direct).max())}

def cosine(a, b): return (F.normalize(torch.as_tensor(a), dim=1) * F.normalize(torch.as_tensor(b), dim=1)).sum(1)

def runner_bf16(seed, resnet, runners):  # 01_model: bf16 features agree with fp32 (min cosine >= 0.999)
    torch.manual_seed(seed); x = torch.randn(4, 3, 224, 224)
    exact = runners['fp32'](x)
    return {f"bf16_{e}_cosine_deficit": (1 - cosine(runners[e](x), exact).min()).item() for e in runners if e != 'fp32'}

def spread(seed):  # 02_train: embedding_spread equals the mean pairwise cosine distance (eps 1e-5)
    torch.manual_seed(seed); x = F.normalize(torch.randn(50, 8), dim=1)
    return {'spread': abs(embedding_spread(x) - (1 - x @ x.T)[~torch.eye(50, dtype=bool)].mean().item())}

def standardization(seed):  # 02_train: standardisation (eps 1e-3) and folding (float64, eps 1e-9)
    torch.manual_seed(seed)
    raw = torch.randn(10_000, 16) * torch.logspace(-2, 1, 16) + 5
    shift, scale = feature_standardization(raw); sd = raw.std(0, correction=0)
    standardized = (raw - shift) * scale
    out = {'std_mean': standardized.mean(0).abs().max().item(),
           'std_spread': (standardized.std(0, correction=0) - sd / (sd + sd.median())).abs().max().item(),
           'scale_assert_shortfall': max(0.95 - (scale[-1] * sd[-1]).item(), (scale[0] - 1 / sd.median()).item())}
    head = EmbeddingHead(16, 8).eval()
    for name, dtype in (('fold_float64', torch.float64), ('fold_float32_old_test', torch.float32)):
        h = EmbeddingHead(16, 8).eval().to(dtype); h.load_state_dict(head.state_dict())
        with torch.no_grad():
            expected = h((raw.to(dtype) - shift.to(dtype)) * scale.to(dtype))
            out[name] = (fold_standardization(h, shift.to(dtype), scale.to(dtype))(raw.to(dtype)) - expected).abs().max().item()
    return out

def exact_search(seed):  # 03_search: search equals cosine_similarity + argsort (positions exact, scores eps 1e-5)
    rng = np.random.default_rng(seed)
    gallery = F.normalize(torch.from_numpy(rng.standard_normal((5000, 64), dtype=np.float32)), dim=1).numpy()
    queries = F.normalize(torch.from_numpy(rng.standard_normal((37, 64), dtype=np.float32)), dim=1).numpy()
    scores, positions = search(queries, gallery, k=10, memory_mb=1)
    reference = cosine_similarity(queries, gallery)
    expected = np.argsort(-reference, axis=1, kind='stable')[:, :10]
    differ = positions != expected
    # where positions differ, are the swapped items tied in the reference to float32 rounding?
    gap = np.abs(np.take_along_axis(reference, positions, 1) - np.take_along_axis(reference, expected, 1))[differ]
    return {'search_scores': float(np.abs(scores - np.take_along_axis(reference, expected, 1)).max()),
            'search_positions_differ': int(differ.sum()), 'search_differing_gap': float(gap.max()) if gap.size else 0.}

TOLERANCES = {'unit_norm': 1e-5, 'runner_fp32': 1e-4, 'bf16_torch_cosine_deficit': 1e-3, 'bf16_openvino_cosine_deficit': 1e-3,
              'spread': 1e-5, 'scale_assert_shortfall': 0., 'std_mean': 1e-3, 'std_spread': 1e-3, 'fold_float64': 1e-9, 'fold_float32_old_test': 1e-4,
              'search_scores': 1e-5}

def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--seeds', type=int, default=200)
    parser.add_argument('--out', type=Path, default=Path(__file__).parent/'results'/'seed_sweep.json')
    args = parser.parse_args()
    efficientnet, resnet = load_backbone('efficientnet_lite0'), load_backbone('resnet50', weights=None)
    runners = {'fp32': Runner(resnet, precision='fp32', engine='torch')}
    if cpu_has_bf16():
        runners['torch'] = Runner(resnet, precision='bf16', engine='torch')
        if _has_openvino(): runners['openvino'] = Runner(resnet, precision='bf16', engine='openvino')
    worst, failing, start = {}, {}, time.time()
    for seed in range(args.seeds):
        row = {**head_norm(seed), **runner_fp32(seed, efficientnet), **runner_bf16(seed, resnet, runners), **spread(seed),
               **standardization(seed), **exact_search(seed)}
        for name, value in row.items():
            if name not in worst or value > worst[name]['worst']: worst[name] = {'worst': value, 'seed': seed}
            failing[name] = failing.get(name, 0) + (name in TOLERANCES and value >= TOLERANCES[name] if TOLERANCES.get(name) else value > 0)
        print(seed, {k: f"{v:.3g}" for k, v in row.items()}, file=sys.stderr)
    for name, w in worst.items():
        if name in TOLERANCES:
            w |= {'tolerance': TOLERANCES[name], 'ratio': w['worst'] / TOLERANCES[name] if TOLERANCES[name] else None, 'failing_seeds': failing[name]}
    results = {'command': f"python benchmarks/seed_sweep.py --seeds {args.seeds}", 'date': time.strftime('%Y-%m-%d %H:%M'),
               'seeds': args.seeds, 'seconds': round(time.time() - start), 'worst': worst}
    args.out.write_text(json.dumps(results, indent=2))
    for name, w in worst.items():
        bound = f"  tolerance {w['tolerance']:g}  failing seeds {w['failing_seeds']}" if 'tolerance' in w else ''
        print(f"{name:32s} worst {w['worst']:.3g} (seed {w['seed']})" + bound)

if __name__ == '__main__': main()
