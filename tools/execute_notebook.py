"""Execute one notebook with nbclient (what `jupyter nbconvert --execute` runs) and always write the executed copy.

Usage: /usr/bin/python3 tools/execute_notebook.py SOURCE.ipynb OUTPUT.ipynb
The kernel's working folder is the notebook's folder; its environment is this process's. Prints one line
`RESULT {json}`: {"ok": true} or, when a cell raised, {"ok": false, "cell": <index among all cells>,
"codeCell": <1-based among code cells>, "source": <the cell's first line>, "ename": ..., "evalue": ...} (no
Python traceback: tools/notebooks.ts and tools/html.ts turn it into one short message); a kernel that dies is
reported the same way (ename DeadKernelError, the last cell that started). Exit 0 in these cases;
any other exit is a failure of Jupyter itself (missing kernel, ...), whose message goes to stderr.
"""
import json
import os
import sys

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, DeadKernelError

source, output = sys.argv[1], sys.argv[2]
nb = nbformat.read(source, as_version=4)
client = NotebookClient(nb, timeout=None, resources={"metadata": {"path": os.path.dirname(os.path.abspath(source))}})
result = {"ok": True}
try:
    client.execute()
except CellExecutionError:
    result = {"ok": False}
    code_cells = 0
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        code_cells += 1
        error = next((o for o in cell.get("outputs", []) if o.get("output_type") == "error"), None)
        if error is not None:
            result.update(
                cell=index,
                codeCell=code_cells,
                source=(cell.source.strip().splitlines() or [""])[0],
                ename=error.get("ename", ""),
                evalue=error.get("evalue", ""),
            )
            break
except DeadKernelError as err:
    # The kernel process ended (out of memory, killed, Interrupt outside a training loop): name the cell it ran.
    result = {"ok": False, "ename": "DeadKernelError", "evalue": f"the Deno kernel died ({err})".strip()}
    code_cells = 0
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            code_cells += 1
            if cell.get("execution_count") is not None:
                result.update(cell=index, codeCell=code_cells, source=(cell.source.strip().splitlines() or [""])[0])
finally:
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    nbformat.write(nb, output)
print("RESULT " + json.dumps(result, ensure_ascii=False))
