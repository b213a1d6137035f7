"""PyTorch peer of the engine's bench (engine/bench/bench.ts runs it when python3 imports torch).

The same models as the bench (engine/bench/workloads.ts), on random tensors, with the same threads:
- smallConvnet150: the 5.2 convnet (4 conv 3x3 + 2x2 max pools, dense 512, dense 1),
  training with RMSprop (lr 1e-4) and binary cross-entropy, batch 20, and inference, batch 20;
- vgg16Base150: VGG16's 13 convolutions and 5 pools at 150x150, inference, batch 10.

Each is timed in both memory layouts, NCHW and channels_last. With --profile N, it times N training
steps of the small convnet in the given layout under torch.profiler instead, and reports milliseconds
per step for each operator (self CPU time). Usage:

    /usr/bin/python3 engine/bench/torch_peer.py --threads 2 --seconds 10
    /usr/bin/python3 engine/bench/torch_peer.py --threads 2 --profile 10 --layout channelsLast

prints one JSON object on stdout.
"""

import argparse
import json
import resource
import time

import torch
from torch import nn


def small_convnet(size: int = 150) -> nn.Module:
    layers = []
    channels = 3
    for filters in (32, 64, 128, 128):
        layers += [nn.Conv2d(channels, filters, 3), nn.ReLU(), nn.MaxPool2d(2)]
        channels = filters
        size = (size - 2) // 2
    return nn.Sequential(
        *layers,
        nn.Flatten(),
        nn.Linear(channels * size * size, 512),
        nn.ReLU(),
        nn.Linear(512, 1),
        nn.Sigmoid(),
    )


def vgg16_base() -> nn.Module:
    layers = []
    channels = 3
    for block in ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)):
        for filters in block:
            layers += [nn.Conv2d(channels, filters, 3, padding=1), nn.ReLU()]
            channels = filters
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


def per_call(fn, seconds: float, min_calls: int = 2) -> float:
    """Seconds per call of fn, after one warm-up call."""
    fn()
    calls = 0
    start = time.perf_counter()
    while calls < min_calls or time.perf_counter() - start < seconds:
        fn()
        calls += 1
    return (time.perf_counter() - start) / calls


def layout(x: torch.Tensor, model: nn.Module, channels_last: bool):
    if channels_last:
        return x.contiguous(memory_format=torch.channels_last), model.to(memory_format=torch.channels_last)
    return x, model


def small_convnet_training(channels_last: bool):
    """The model, its input and one training step (RMSprop as Keras' defaults, binary cross-entropy), batch 20."""
    batch = 20
    torch.manual_seed(0)
    model = small_convnet()
    x, model = layout(torch.randn(batch, 3, 150, 150), model, channels_last)
    y = torch.tensor([[float(i % 2)] for i in range(batch)])
    optimizer = torch.optim.RMSprop(model.parameters(), lr=1e-4, alpha=0.9, eps=1e-7)
    loss_fn = nn.BCELoss()

    def train_step():
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()

    return model, x, train_step


def small_convnet_speeds(seconds: float, channels_last: bool) -> dict:
    batch = 20
    model, x, train_step = small_convnet_training(channels_last)
    train = per_call(train_step, seconds)
    model.eval()

    def infer():
        with torch.no_grad():
            model(x)

    infer_s = per_call(infer, seconds)
    return {"trainImagesPerSec": batch / train, "inferImagesPerSec": batch / infer_s}


def vgg16_speeds(seconds: float, channels_last: bool) -> dict:
    batch = 10
    torch.manual_seed(0)
    model = vgg16_base().eval()
    x, model = layout(torch.randn(batch, 3, 150, 150), model, channels_last)

    def infer():
        with torch.no_grad():
            model(x)

    return {"inferImagesPerSec": batch / per_call(infer, seconds)}


def training_profile(steps: int, channels_last: bool) -> dict:
    """Milliseconds per training step of each operator (self CPU time), over `steps` steps after two warm-ups."""
    _, _, train_step = small_convnet_training(channels_last)
    train_step()
    train_step()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        for _ in range(steps):
            train_step()
        wall = time.perf_counter() - start
    ops = {e.key: e.self_cpu_time_total / 1000 / steps for e in prof.key_averages() if e.self_cpu_time_total > 0}
    return {"msPerStep": wall * 1000 / steps, "ops": ops}


def blas_library() -> str:
    """The BLAS library this process loaded (PyTorch's dense layers run on it), as /proc/self/maps names it."""
    try:
        with open("/proc/self/maps") as maps:
            names = {line.split()[-1] for line in maps if "blas" in line.lower()}
        return ", ".join(sorted(names)) or "none found"
    except OSError:
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--only", choices=["smallConvnet150", "vgg16Base150"], default=None)
    parser.add_argument("--profile", type=int, default=0)
    parser.add_argument("--layout", choices=["nchw", "channelsLast"], default="channelsLast")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    if args.profile:
        profile = training_profile(args.profile, args.layout == "channelsLast")
        print(json.dumps({"torch": torch.__version__, "layout": args.layout, **profile}))
        return
    out = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "mkldnn": torch.backends.mkldnn.is_available(),
    }
    for name, speeds in (("smallConvnet150", small_convnet_speeds), ("vgg16Base150", vgg16_speeds)):
        if args.only and args.only != name:
            continue
        out[name] = {
            "nchw": speeds(args.seconds, False),
            "channelsLast": speeds(args.seconds, True),
        }
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out["cpuSeconds"] = usage.ru_utime + usage.ru_stime
    out["wallSeconds"] = time.perf_counter() - start
    out["blas"] = blas_library()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
