"""Inspecting graphs: text trees and math (``text``), sympy and LaTeX (``sympy_io``), Graphviz pictures and networkx
(``dot``, ``render``), and the static cost model (``stats``). Everything here reads graphs and never changes them; heavy
libraries (sympy, networkx, graphviz) are imported only when a function needs them.
"""
