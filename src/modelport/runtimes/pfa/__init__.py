"""A PFA (Portable Format for Analytics) scoring engine and its modelport runtime.

modelport implements a documented subset of PFA 0.8.1 (see ``docs/pfa.md``):
documents are compiled into typed closures once, then score records one at a
time or whole columnar batches with numpy.  Constructs outside the subset are
refused at load time by name (:class:`PfaUnsupported`); malformed documents
raise :class:`PfaSyntaxError` saying where.
"""

from modelport.runtimes.pfa.engine import PfaEngine
from modelport.runtimes.pfa.errors import PfaError, PfaRuntimeError, PfaSyntaxError, PfaUnsupported
from modelport.runtimes.pfa.runtime import PfaRuntime

__all__ = ["PfaEngine", "PfaError", "PfaRuntime", "PfaRuntimeError", "PfaSyntaxError", "PfaUnsupported"]
