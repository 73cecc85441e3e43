"""dataguard: keeps a SaaS company's data recoverable and proves it, continuously."""

__version__ = "0.1.0"
