"""Whole stages over folders, each run as the dataset's task object says: predicting a folder, evaluating
predictions, ensembling prediction folders and choosing the best configuration on the cross-validation.

These sit above autoseg/tasks; the pieces below it (inference, evaluation, selection) take the task as an
argument and never look it up, so no package imports one that imports it back.
"""
