"""Code that must be copied, kept identical.

A `modeling_*.py` file is saved next to its checkpoint and loaded with `trust_remote_code=True` where hf-methods is not
installed, so it cannot import shared helpers: the few helpers every such file needs are copies (as transformers
copies code between its model files). This test keeps the copies identical, so a fix to one reaches all.
"""

import ast
from pathlib import Path

import hf_methods

PACKAGE = Path(hf_methods.__file__).parent


def _body_without_docstring(node: ast.FunctionDef) -> str:
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return ast.dump(ast.Module(body=body, type_ignores=[]))


def test_damaged_checkpoint_override_is_the_same_everywhere():
    """`from_pretrained` that turns safetensors' bare error into an `OSError` naming the checkpoint."""
    copies = {}
    for path in sorted(PACKAGE.rglob("modeling_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.FunctionDef)
                and node.name == "from_pretrained"
                and "SafetensorError" in ast.unparse(node)
            ):
                copies[str(path.relative_to(PACKAGE))] = _body_without_docstring(node)
    assert len(copies) >= 2
    reference = copies["models/random_features/modeling_random_features.py"]
    different = [name for name, body in copies.items() if body != reference]
    assert not different, f"these copies differ from models/random_features/modeling_random_features.py: {different}"
