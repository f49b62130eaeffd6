"""zerograph: checkpoint savers for LangGraph.

```python
from zerograph.checkpoint.sqlite import SqliteSaver
graph = builder.compile(checkpointer=SqliteSaver("checkpoints.db"))
```
"""

__version__ = "0.1.0"
