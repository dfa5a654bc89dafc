"""The QC report's parts: the page (sortable table, sections of figures), the figures, and what the task kinds'
views share. ``autoseg report`` assembles them in autoseg/workflows/report.py; each kind's view is in
autoseg/tasks/<kind>/report.py."""
