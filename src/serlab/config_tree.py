"""Printing the composed config as a tree, and keeping a copy in the run folder."""

from __future__ import annotations

from pathlib import Path

import rich
import rich.syntax
import rich.tree
from omegaconf import DictConfig, OmegaConf

FIRST = ("data", "frontend", "model", "loss", "regularizer", "optimizer", "scheduler", "trainer")


def print_config_tree(cfg: DictConfig, save_to: Path | None = None) -> None:
    """Show each top-level group as a branch; the groups of the data path come first."""
    tree = rich.tree.Tree("config", style="dim", guide_style="dim")
    keys = [k for k in FIRST if k in cfg] + [k for k in cfg if k not in FIRST]
    for key in keys:
        node = cfg[key]
        text = OmegaConf.to_yaml(node, resolve=True) if isinstance(node, DictConfig) else str(node)
        tree.add(str(key), style="bold").add(rich.syntax.Syntax(text, "yaml"))
    rich.print(tree)
    if save_to is not None:
        with open(save_to, "w") as f:
            rich.print(tree, file=f)
