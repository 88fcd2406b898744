"""Stages a quant job may run before quantizing: "prune, then quantize" is
the prune job's network handed to the quant job as its source model."""
from __future__ import annotations

from pathlib import Path

from slim.families.base import Models
from slim.recipe import RECIPES_DIR, QuantRecipe, load_prune_recipe


def pruned_source(recipe: QuantRecipe, model: str | None, work: Path) -> Models:
    """The float model as the baseline and the pruned, fine-tuned one as the
    source, from the prune recipe that `recipe.prune` names (its scan, plan
    and fine-tune come from the prune job's cache when a run made them)."""
    from slim.families.model_source import export_inference
    from slim.jobs.prune_det import pruned_network
    from slim.methods.pruning import flops, params

    prune_recipe = load_prune_recipe(_beside(recipe.prune, getattr(recipe, "source", None)))
    # the photos this job was given (--images) are the pruned model's too
    name, teacher, student, info = pruned_network(prune_recipe, model or prune_recipe.model, recipe.data.images or None)
    shape = [1, 3, prune_recipe.prune.input_size, prune_recipe.prune.input_size]
    info.update(params={"float": params(teacher), "pruned": params(student)},
                flops={"float": flops(teacher, shape), "pruned": flops(student, shape)}, flops_input=shape)
    base = export_inference(teacher, work / "float", [None, 3, None, None])
    src = export_inference(student, work / "pruned", [None, 3, None, None])
    return Models(name, base, src, pruning=info)


def _beside(name: str, recipe_file: Path | None) -> Path:
    """A recipe named inside another: a path, else a file beside it or in recipes/."""
    p = Path(name)
    for cand in (p, (recipe_file.parent / name) if recipe_file else None, RECIPES_DIR / name):
        if cand is not None and cand.is_file():
            return cand
    return p  # load_prune_recipe names it in its error
