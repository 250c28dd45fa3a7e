import numpy as np

from physgen.eval.metrics import frame_metrics, psnr


def test_psnr_of_identical_images_is_large_and_of_noise_is_known():
    a = np.full((8, 8, 3), 100, np.uint8)
    assert psnr(a, a) > 90
    b = a + 10  # MSE 100 -> 28.13 dB
    assert abs(psnr(b, a) - 28.13) < 0.01


def test_masked_psnr_only_counts_masked_pixels():
    real = np.zeros((8, 8, 3), np.uint8)
    pred = real.copy()
    pred[:4] = 50
    mask = np.zeros((8, 8), bool)
    mask[4:] = True
    assert psnr(pred, real, mask) > 90
    assert np.isnan(psnr(pred, real, np.zeros((8, 8), bool)))


def test_changed_region_is_where_the_real_frame_moved():
    first = np.zeros((16, 16, 3), np.uint8)
    real = first.copy()
    real[:4, :4] = 200
    metrics = frame_metrics(first, real, first, None)
    assert metrics["psnr_changed"] < 10 < metrics["psnr"]
