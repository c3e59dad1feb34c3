"""PyTorch models -> float layers: the module is traced with torch.fx and its graph read as
a single chain of supported layers, in module form (``nn.Conv2d``, ``nn.MaxPool2d``, ...) or
functional form (``F.relu``, ``F.max_pool2d``, ``torch.flatten``, ``x.view(x.size(0), -1)``,
``F.linear`` and ``F.conv2d`` with the module's own parameters)."""
from __future__ import annotations

import operator

import numpy as np

from .errors import DependencyError, NetworkError, UnsupportedError
from .importers_common import fold_batchnorm
from .network import AvgPool2d, Flatten, MaxPool2d, ReLU, pair
from .quantization import FloatConv2d, FloatLinear

_NO_DEFAULT = object()


def _torch():
    try:
        import torch
    except ImportError:
        raise DependencyError("from_torch needs PyTorch: pip install 'streamcnn[torch]'") from None
    return torch


def _functions():
    """Functional forms: target -> (kind, parameter names after the input, their defaults)."""
    torch = _torch()
    import torch.nn.functional as F

    pool = ("kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices")
    pool_defaults = (_NO_DEFAULT, None, 0, 1, False, False)
    avg = ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override")
    avg_defaults = (_NO_DEFAULT, None, 0, False, True, None)
    drop = (("p", "training", "inplace"), (0.5, True, False))
    table = {
        F.relu: ("relu", ("inplace",), (False,)), F.relu_: ("relu", (), ()), torch.relu: ("relu", (), ()),
        torch.relu_: ("relu", (), ()),
        F.max_pool2d: ("max_pool2d", pool, pool_defaults),
        torch.max_pool2d: ("max_pool2d", pool[:-1], pool_defaults[:-1]),
        F.avg_pool2d: ("avg_pool2d", avg, avg_defaults),
        torch.flatten: ("flatten", ("start_dim", "end_dim"), (0, -1)),
        torch.reshape: ("reshape", ("shape",), (_NO_DEFAULT,)),
        F.linear: ("linear", ("weight", "bias"), (_NO_DEFAULT, None)),
        F.conv2d: ("conv2d", ("weight", "bias", "stride", "padding", "dilation", "groups"),
                   (_NO_DEFAULT, None, 1, 0, 1, 1)),
    }
    for f in (F.dropout, F.dropout1d, F.dropout2d, F.dropout3d, F.alpha_dropout, F.feature_alpha_dropout):
        table[f] = ("dropout",) + drop
    return table


_METHODS = {"relu": ("relu", (), ()), "relu_": ("relu", (), ()),
            "flatten": ("flatten", ("start_dim", "end_dim"), (0, -1))}


def _bind(node, names: tuple, defaults: tuple, what: str) -> dict:
    """The arguments of a call after its input, by name, with the function's defaults."""
    args = list(node.args[1:])
    if len(args) > len(names):
        raise UnsupportedError(f"{what}: {len(node.args)} arguments, more than {what.split(' ')[0]} takes")
    bound = dict(zip(names, args))
    for k, v in node.kwargs.items():
        if k not in names or k in bound:
            raise UnsupportedError(f"{what}: unexpected argument {k}={v!r}")
        bound[k] = v
    for k, d in zip(names, defaults):
        if k not in bound:
            if d is _NO_DEFAULT:
                raise UnsupportedError(f"{what}: the argument {k} is missing")
            bound[k] = d
    return bound


def _conv(weight, bias, stride, padding, dilation, groups, padding_mode, what: str, name: str) -> FloatConv2d:
    if groups != 1 or pair(dilation, "dilation") != (1, 1) or padding_mode != "zeros":
        raise UnsupportedError(f"{what}: only groups=1, dilation=1 and zero padding are supported (groups={groups}, "
                               f"dilation={dilation}, padding_mode={padding_mode!r})")
    kernel = weight.shape[2:]
    if isinstance(padding, str):
        if padding == "valid":
            padding = 0
        elif padding != "same":
            raise UnsupportedError(f"{what}: padding={padding!r} is not supported")
        elif any(s != 1 or k % 2 == 0 for s, k in zip(pair(stride, "stride"), kernel)):
            raise UnsupportedError(f"{what}: padding='same' needs stride 1 and odd kernels")
        else:
            padding = tuple(k // 2 for k in kernel)
    return FloatConv2d(weight, bias, pair(stride, "stride"), pair(padding, "padding"), name)


def _pool(kind: str, kernel, stride, padding, what: str, name: str, dilation=1, ceil_mode=False,
          extra: str = ""):
    k = pair(kernel, "kernel_size")
    s = k if stride is None or (isinstance(stride, (list, tuple)) and not stride) else pair(stride, "stride")
    problems = [p for p, bad in (
        (f"a {k[0]}x{k[1]} kernel", k[0] != k[1]), (f"stride {s}", s[0] != s[1]),
        (f"padding={padding}", pair(padding, "padding") != (0, 0)), (f"dilation={dilation}", pair(dilation) != (1, 1)),
        ("ceil_mode=True", bool(ceil_mode)), (extra, bool(extra))) if bad]
    if problems:
        raise UnsupportedError(f"{what}: only square kernels and strides, no padding, no dilation, floor mode are "
                               f"supported (got {', '.join(problems)})")
    return (MaxPool2d if kind == "max" else AvgPool2d)(k[0], s[0], name=name)


def _is_flat_shape(shape, torch) -> bool:
    """(batch, -1), or (-1, F) whose F the next Linear checks; batch is x.size(0), x.shape[0]..."""
    if isinstance(shape, (list, tuple)) and len(shape) == 1 and isinstance(shape[0], (list, tuple)):
        shape = shape[0]
    if not isinstance(shape, (list, tuple)) or len(shape) != 2:
        return False
    first, second = shape
    return (_is_batch(first, torch) and second == -1) or (
        first == -1 and isinstance(second, int) and not isinstance(second, bool) and second > 0)


def _is_batch(a, torch) -> bool:
    if not isinstance(a, torch.fx.Node):
        return False
    if a.op == "call_method" and a.target == "size":
        return a.args[1:] == (0,) or a.kwargs == {"dim": 0}
    if a.op == "call_function" and a.target is operator.getitem and a.args[1] == 0:
        src = a.args[0]
        return isinstance(src, torch.fx.Node) and (
            (src.op == "call_method" and src.target == "size" and len(src.args) == 1 and not src.kwargs)
            or (src.op == "call_function" and src.target is getattr and src.args[1:] == ("shape",)))
    return False


def _is_helper(node, torch) -> bool:
    """Nodes that only compute a shape for a view/reshape, or fetch a parameter: read where used."""
    if node.op == "get_attr" or (node.op == "call_method" and node.target == "size"):
        return True
    if node.op == "call_function" and node.target is getattr and node.args[1:] == ("shape",):
        return True
    return (node.op == "call_function" and node.target is operator.getitem and isinstance(node.args[0], torch.fx.Node)
            and _is_helper(node.args[0], torch))


def torch_layers(module) -> list:
    """The float layers of a PyTorch module (a single chain of supported layers)."""
    torch = _torch()
    import torch.fx
    import torch.nn as nn

    if not isinstance(module, nn.Module):
        raise UnsupportedError(f"from_torch imports a torch.nn.Module, got {type(module).__name__}")
    try:
        traced = torch.fx.symbolic_trace(module)
    except Exception as e:  # data-dependent control flow and the like
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise UnsupportedError(f"{type(module).__name__} could not be traced with torch.fx ({first}); "
                               "streamcnn imports nn.Sequential and simple forward() chains") from None
    functions = _functions()
    layers: list = []
    current = None  # the fx node holding the running activation

    def arr(t, what: str) -> np.ndarray:
        try:
            return t.detach().cpu().double().numpy()
        except Exception as e:  # meta tensors, quantized tensors...
            raise UnsupportedError(f"{what}: its parameters cannot be read as float arrays ({e})") from None

    def parameter(a, what: str, optional: bool = False):
        if a is None and optional:
            return None
        if not (isinstance(a, torch.fx.Node) and a.op == "get_attr"):
            raise UnsupportedError(f"{what}: weights must be the module's own parameters or buffers, got {a!r}")
        obj = traced
        for part in str(a.target).split("."):
            obj = getattr(obj, part)
        if not isinstance(obj, torch.Tensor):
            raise UnsupportedError(f"{what}: {a.target!r} is not a tensor")
        return arr(obj, what)

    for node in traced.graph.nodes:
        where = f"{node.op} {node.target if node.op != 'call_module' else repr(node.target)} (fx node {node.name!r})"
        if node.op == "placeholder":
            if current is not None:
                raise UnsupportedError(f"models with more than one input are not supported: {where}")
            current = node
            continue
        if node.op == "output":
            if node.args[0] is not current:
                raise UnsupportedError(f"the model's output is not the end of its layer chain: {where}")
            break
        if _is_helper(node, torch):
            continue  # only feeds a view/reshape or a functional layer; checked there
        if node.op == "call_function" and node.target in functions:
            kind, names, defaults = functions[node.target]
        elif node.op == "call_method" and node.target in _METHODS:
            kind, names, defaults = _METHODS[node.target]
        elif node.op == "call_method" and node.target in ("view", "reshape"):
            kind, names, defaults = "reshape", (), ()
        elif node.op == "call_module":
            kind, names, defaults = "module", (), ()
        else:
            target = getattr(node.target, "__name__", str(node.target))
            if node.target in (operator.add, torch.add, operator.iadd, operator.mul, torch.mul, torch.cat):
                raise UnsupportedError(f"unsupported operator {target} at fx node {node.name!r} "
                                       "(residual and multi-branch models are not supported)")
            raise UnsupportedError(f"unsupported operator {target} ({node.op}) at fx node {node.name!r}")
        inputs = [a for a in list(node.args) + list(node.kwargs.values()) if isinstance(a, torch.fx.Node)]
        nested = [a for v in list(node.args) + list(node.kwargs.values()) if isinstance(v, (list, tuple))
                  for a in v if isinstance(a, torch.fx.Node)]
        if not node.args or node.args[0] is not current or any(
                a is not current and not _is_helper(a, torch) for a in inputs + nested):
            raise UnsupportedError(f"only a single chain of layers is supported; {where} takes "
                                   f"{[a.name for a in inputs]} instead of the previous layer's output")
        what = f"{getattr(node.target, '__name__', node.target)} at fx node {node.name!r}"
        functional_reshape = kind == "reshape" and node.op == "call_function"
        a = _bind(node, names, defaults, what) if kind != "module" and (kind != "reshape" or functional_reshape) else {}
        for k, v in a.items():
            if k not in ("weight", "bias", "shape") and any(isinstance(i, torch.fx.Node) for i in
                                                            (v if isinstance(v, (list, tuple)) else [v])):
                raise UnsupportedError(f"{what}: {k} is computed in forward(); only constant values are supported")
        if kind == "module":
            sub = traced.get_submodule(node.target)
            path = str(node.target)  # where the module is, for messages
            name = f"{path}-{type(sub).__name__.lower()}"  # the layer's name, e.g. "0-conv2d", "features.3-relu"
            if isinstance(sub, nn.Conv2d):
                layers.append(_conv(arr(sub.weight, path), None if sub.bias is None else arr(sub.bias, path),
                                    sub.stride, sub.padding, sub.dilation, sub.groups, sub.padding_mode,
                                    f"Conv2d {path!r}", name))
            elif isinstance(sub, nn.BatchNorm2d):
                if not layers or not isinstance(layers[-1], FloatConv2d):
                    raise UnsupportedError(f"BatchNorm2d {path!r} must follow a Conv2d (it is folded into it)")
                if not sub.track_running_stats or sub.running_mean is None:
                    raise UnsupportedError(f"BatchNorm2d {path!r} has no running statistics to fold")
                gamma = arr(sub.weight, path) if sub.affine else np.ones(sub.num_features)
                beta = arr(sub.bias, path) if sub.affine else np.zeros(sub.num_features)
                if sub.num_features != np.shape(layers[-1].weight)[0]:
                    raise NetworkError(f"BatchNorm2d {path!r} has {sub.num_features} features, the Conv2d before "
                                       f"it {np.shape(layers[-1].weight)[0]} output channels")
                layers[-1] = fold_batchnorm(layers[-1], gamma, beta, arr(sub.running_mean, path),
                                            arr(sub.running_var, path), sub.eps)
            elif isinstance(sub, nn.ReLU):
                layers.append(ReLU(name=name))
            elif isinstance(sub, nn.MaxPool2d):
                layers.append(_pool("max", sub.kernel_size, sub.stride, sub.padding, f"MaxPool2d {path!r}", name,
                                    sub.dilation, sub.ceil_mode, "return_indices=True" if sub.return_indices else ""))
            elif isinstance(sub, nn.AvgPool2d):
                extra = f"divisor_override={sub.divisor_override}" if sub.divisor_override is not None else ""
                layers.append(_pool("avg", sub.kernel_size, sub.stride, sub.padding, f"AvgPool2d {path!r}", name,
                                    1, sub.ceil_mode, extra))
            elif isinstance(sub, nn.Flatten):
                if sub.start_dim != 1 or sub.end_dim != -1:
                    raise UnsupportedError(f"Flatten {path!r}: only start_dim=1, end_dim=-1 is supported")
                layers.append(Flatten(name=name))
            elif isinstance(sub, nn.Linear):
                layers.append(FloatLinear(arr(sub.weight, path), None if sub.bias is None else arr(sub.bias, path),
                                          name))
            elif isinstance(sub, (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout,
                                  nn.Identity)):
                pass  # inference: the input passes unchanged
            else:
                raise UnsupportedError(f"unsupported operator {type(sub).__name__} at {path!r}")
        elif kind == "relu":
            layers.append(ReLU(name=node.name))
        elif kind in ("max_pool2d", "avg_pool2d"):
            if kind == "max_pool2d":
                extra = "return_indices=True" if a.get("return_indices") else ""
                dilation = a["dilation"]
            else:
                dilation = 1
                extra = f"divisor_override={a['divisor_override']}" if a["divisor_override"] is not None else ""
            layers.append(_pool(kind[:3], a["kernel_size"], a["stride"], a["padding"], what, node.name, dilation,
                                a["ceil_mode"], extra))
        elif kind == "flatten":
            if a["start_dim"] != 1 or a["end_dim"] != -1:
                raise UnsupportedError(f"{what}: only start_dim=1, end_dim=-1 is supported "
                                       f"(got start_dim={a['start_dim']}, end_dim={a['end_dim']})")
            layers.append(Flatten(name=node.name))
        elif kind == "reshape":
            shape = a["shape"] if functional_reshape else node.args[1:]
            if not _is_flat_shape(tuple(shape) if isinstance(shape, list) else shape, torch):
                raise UnsupportedError(f"{node.target if isinstance(node.target, str) else 'reshape'} at fx node "
                                       f"{node.name!r}: only flattening to (batch, -1) is supported")
            layers.append(Flatten(name=node.name))
        elif kind == "dropout":
            if a["training"] is not False:
                raise UnsupportedError(f"{what}: dropout with training={a['training']!r} is applied at inference; "
                                       "pass training=self.training")
        elif kind == "linear":
            layers.append(FloatLinear(parameter(a["weight"], what), parameter(a["bias"], what, True), node.name))
        elif kind == "conv2d":
            w = parameter(a["weight"], what)
            if w.ndim != 4:
                raise UnsupportedError(f"{what}: only 2-D convolutions (4-D weights) are supported, got {w.shape}")
            layers.append(_conv(w, parameter(a["bias"], what, True), a["stride"], a["padding"], a["dilation"],
                                a["groups"], "zeros", what, node.name))
        current = node
    return layers
