__version__ = "0.1.0"

# The baselines register their training methods ('stargan', 'cyclegan', 'resgan') on import. Importing them with the
# package means a checkpoint of any method trains, resumes and edits wherever sagan_nb is imported, not only after an
# explicit `import sagan_nb.baselines`.
from . import baselines as _baselines  # noqa: E402,F401
