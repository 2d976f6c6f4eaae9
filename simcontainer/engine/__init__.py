"""The engine layer: a scenario wired into simpy, run, and its result built once (core, summary,
assumptions). Above the model, below the studies."""
