# glibc's expf (the function llama.cpp's CPU flash attention calls for its online-softmax steps) on
# 4000 f32 inputs: softmax arguments (x <= 0), both signs, and the edges. Output: hex bits "x y" a line.
#   python3 test/golden/expf/make.py > test/golden/expf/glibc-expf.txt
import ctypes, platform, random, struct
libm = ctypes.CDLL('libm.so.6')
libm.expf.restype = ctypes.c_float
libm.expf.argtypes = [ctypes.c_float]
libc = ctypes.CDLL('libc.so.6')
libc.gnu_get_libc_version.restype = ctypes.c_char_p
bits = lambda v: struct.unpack('<I', struct.pack('<f', v))[0]
f32 = lambda v: struct.unpack('<f', struct.pack('<f', v))[0]
random.seed(7)
xs = [0.0, -0.0, 1.0, -1.0, 88.72283172607422, 88.7228, -103.97207641601562, -103.9, -87.3, 1e-30, -1e-30, float('-inf'), 2 ** -149, -2 ** -149]
while len(xs) < 4000:
    r = random.random()
    xs.append(f32(-random.random() * 30 if r < 0.7 else (random.random() * 2 - 1) * 100))
print('# glibc %s expf, %s; python3 test/golden/expf/make.py' % (libc.gnu_get_libc_version().decode(), platform.machine()))
for x in xs:
    print('%08x %08x' % (bits(x), bits(libm.expf(x))))
