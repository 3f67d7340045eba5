"""The controller: one folder per layer (docs/architecture.md draws them).

core/ is the pure hall; store/ its durable log; config/ the hall's configuration; daemon/,
cli/, http/, console/, auth/ and haochaping/ the shell around them. The import-linter contracts
in pyproject.toml keep the order.
"""
