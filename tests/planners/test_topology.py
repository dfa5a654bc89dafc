from planners.topology import plan_topology


def test_isotropic_3d_pools_every_axis_down_to_4_voxels():
    architecture, patch = plan_topology([1.0, 1.0, 1.0], [128, 128, 128], max_stages=6)
    assert architecture.strides == [[1, 1, 1]] + [[2, 2, 2]] * 5
    assert all(k == [3, 3, 3] for k in architecture.kernel_sizes)
    assert architecture.features_per_stage == [32, 64, 128, 256, 320, 320]
    assert patch == [128, 128, 128]


def test_anisotropic_skips_the_coarse_axis_until_it_catches_up():
    architecture, _ = plan_topology([5.0, 0.8, 0.8], [20, 256, 256], max_stages=6)
    assert architecture.kernel_sizes[0] == [1, 3, 3]
    assert architecture.strides[1] == [1, 2, 2] and architecture.strides[2] == [1, 2, 2]
    # after two in-plane poolings the spacing is (5, 3.2, 3.2): now z is pooled and convolved too
    assert architecture.strides[3] == [2, 2, 2] and architecture.kernel_sizes[3] == [3, 3, 3]


def test_small_axis_stops_pooling_at_the_minimum_edge_and_patch_is_divisible():
    architecture, patch = plan_topology([1.0, 1.0], [10, 100], max_stages=7, max_features=512)
    total = architecture.total_stride()
    assert total[0] == 2  # 10 -> 5: one pooling, then under 2 x 4
    assert all(p % t == 0 for p, t in zip(patch, total)) and patch[0] >= 10 and patch[1] >= 100
    assert max(architecture.features_per_stage) <= 512
