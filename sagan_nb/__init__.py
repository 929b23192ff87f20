__version__ = "0.1.0"

# Methods register on import: SaGAN in `sagan`, the baselines ('stargan', 'cyclegan', 'resgan') in `baselines`.
# Importing them with the package means a checkpoint of any method trains, resumes and edits wherever sagan_nb is
# imported, not only after an explicit `import sagan_nb.sagan` or `import sagan_nb.baselines`.
from . import sagan as _sagan, train as _train, baselines as _baselines  # noqa: E402,F401
