// The one-token W4A16 denormal-form tile (LinearW4A16Nibble.Denormal4<OneRow, SplitGroups>, G = 32) written in C with
// the same instruction mix per pair of 64-column blocks and 4 channels: 4 weight loads, 4 shifts, 32 ANDs, 32 product
// FMAs, 8 scale FMAs (vinsertf32x8 of two broadcast scales), prefetcht1 8 rows ahead. A reference point for the C#
// tile: what this machine does with this mix, with no JIT in the way. Synthetic data, timing only.
// Build: gcc -O2 -march=x86-64-v4 -pthread benchmarks/probes/w4a16-denormal-tile.c -o /tmp/w4a16-tile -lm
// Run:   /tmp/w4a16-tile COPIES PREFETCH N THREADS [CHUNK [half]]
//   COPIES: weight copies cycled (1: one N x 2048 matrix, cached if it fits; 12: read from memory);
//   PREFETCH 1/0; N output channels (K = 2048); THREADS 1 or 2; CHUNK 0: one call per 4-channel block, else calls
//   of CHUNK pairs with clamped group indices and the accumulators through memory (the C# structure);
//   half: fp16 scales converted per block into an L1 scratch (HalfPrecisionScalesW4A16). MIS=n misaligns the weights.
// Measured on the Zen 4 VM (6 Dec 2026): 13.6 ns per pair (4 channels) at N = 256 from L2, one thread; 16-19.5 ns at
// N = 32000 or 12 copies of 5632 from memory, 2 threads (33-40 GB/s); fp16 scales 2-3 % slower at N = 32000; the C#
// tile 18.7 ns single-threaded at N = 32000 (this: 17.5-18.2).
// Environment: IL=1|2 interleaved layouts (below), PAGEOFF / HUGE the arrays' placement in pages (alloc below).
// Measured 6 Dec 2026 evening, N = 5632 x 12 copies, 2 threads, best of 5 per run, 3-4 runs alternated: IL=0 18.9-23.1,
// IL=1 18.5-19.5, IL=2 18.2-20.6 ns per pair; N = 32000: 16.3-17.0 / 16.4 / 17.5. HUGE=1 18.2-31.9 against 18.9-20.0
// (the VM's THP is madvise-only and AnonHugePages stayed 0 kB: no huge page was granted), PAGEOFF=0/64/2048 18.4-23.6:
// all within the run-to-run noise.
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <time.h>
#include <pthread.h>
#include <immintrin.h>
#include <sys/mman.h>
// PAGEOFF=o: the arrays start o bytes past a 2 MiB boundary; HUGE=1: 2 MiB-aligned and madvise(MADV_HUGEPAGE).
static void* alloc(long n){
  if(getenv("PAGEOFF")){ char*p=aligned_alloc(1L<<21,n+(2L<<20)); return p+atoi(getenv("PAGEOFF")); }
  if(!getenv("HUGE")) return aligned_alloc(64,n);
  long a=2L<<20; n=(n+a-1)/a*a; void*p=aligned_alloc(a,n); madvise(p,n,MADV_HUGEPAGE); return p; }
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
typedef __m512 V; typedef __m512i I;
#define K 2048
#define RB (K/2)
#define NP (K/128)
#define G (K/32)
static int N=32000, T=2, COPIES=8, PF_ON=1;
static unsigned char* W; static float* SC; static float X[NP*160] __attribute__((aligned(64)));
static inline V A(I d, unsigned m){ return _mm512_castsi512_ps(_mm512_and_si512(d,_mm512_set1_epi32(m))); }
static inline V S(const float*s,int e0,int e1){ return _mm512_insertf32x8(_mm512_set1_ps(s[e0]), _mm256_set1_ps(s[e1]),1); }
// One pair of 64-column blocks of 4 channels, after its dword loads d0..d3: 4 shifts, 32 ANDs, 32 product FMAs and
// 8 scale FMAs into a0..a3 (scales s0..s3 at group indices e0, e1 | o0, o1; activations xp).
#define ST(D0,D1,D2,D3,M,OFF) xr=_mm512_load_ps(xp+OFF); __asm__("" : "+v"(xr)); q0=_mm512_fmadd_ps(xr,A(D0,M),q0);q1=_mm512_fmadd_ps(xr,A(D1,M),q1);q2=_mm512_fmadd_ps(xr,A(D2,M),q2);q3=_mm512_fmadd_ps(xr,A(D3,M),q3);
#define PAIR { \
    I h0=_mm512_srli_epi32(d0,16),h1=_mm512_srli_epi32(d1,16),h2=_mm512_srli_epi32(d2,16),h3=_mm512_srli_epi32(d3,16); \
    V q0=_mm512_load_ps(xp+128),q1=q0,q2=q0,q3=q0,xr; \
    ST(d0,d1,d2,d3,0xF,0) ST(d0,d1,d2,d3,0xF00,32) ST(h0,h1,h2,h3,0xF,64) ST(h0,h1,h2,h3,0xF00,96) \
    a0=_mm512_fmadd_ps(S(s0,e0,e1),q0,a0);a1=_mm512_fmadd_ps(S(s1,e0,e1),q1,a1);a2=_mm512_fmadd_ps(S(s2,e0,e1),q2,a2);a3=_mm512_fmadd_ps(S(s3,e0,e1),q3,a3); \
    q0=_mm512_load_ps(xp+144);q1=q0;q2=q0;q3=q0; \
    ST(d0,d1,d2,d3,0xF0,16) ST(d0,d1,d2,d3,0xF000,48) ST(h0,h1,h2,h3,0xF0,80) ST(h0,h1,h2,h3,0xF000,112) \
    a0=_mm512_fmadd_ps(S(s0,o0,o1),q0,a0);a1=_mm512_fmadd_ps(S(s1,o0,o1),q1,a1);a2=_mm512_fmadd_ps(S(s2,o0,o1),q2,a2);a3=_mm512_fmadd_ps(S(s3,o0,o1),q3,a3); \
  }
static void block(const unsigned char*w0, const float*s0, float*y){
  const unsigned char*w1=w0+RB,*w2=w0+2*RB,*w3=w0+3*RB; const float*s1=s0+G,*s2=s0+2*G,*s3=s0+3*G;
  V a0=_mm512_setzero_ps(),a1=a0,a2=a0,a3=a0; long ahead=8L*RB;
  for(int p=0;p<NP;p++){ const float*xp=X+160*p;
    I d0=_mm512_loadu_si512(w0+64*p),d1=_mm512_loadu_si512(w1+64*p),d2=_mm512_loadu_si512(w2+64*p),d3=_mm512_loadu_si512(w3+64*p);
    if(PF_ON){_mm_prefetch((const char*)w0+ahead+64*(4*p),_MM_HINT_T1);_mm_prefetch((const char*)w0+ahead+64*(4*p+1),_MM_HINT_T1);_mm_prefetch((const char*)w0+ahead+64*(4*p+2),_MM_HINT_T1);_mm_prefetch((const char*)w0+ahead+64*(4*p+3),_MM_HINT_T1);}
    __asm__("" : "+v"(d0),"+v"(d1),"+v"(d2),"+v"(d3));
    if(PF_ON && (p&3)==0){ long as=8L*G; _mm_prefetch((const char*)(s0+4*p+as),_MM_HINT_T1);_mm_prefetch((const char*)(s1+4*p+as),_MM_HINT_T1);_mm_prefetch((const char*)(s2+4*p+as),_MM_HINT_T1);_mm_prefetch((const char*)(s3+4*p+as),_MM_HINT_T1);}
    int e0=4*p,o0=4*p+1,e1=4*p+2,o1=4*p+3;
    PAIR
  }
  y[0]=_mm512_reduce_add_ps(a0);y[1]=_mm512_reduce_add_ps(a1);y[2]=_mm512_reduce_add_ps(a2);y[3]=_mm512_reduce_add_ps(a3);
}
// IL=1: each 4-channel block's weights interleaved by pair ([pair][channel][64 B]) and its scales likewise
// ([pair][channel][4 floats]); IL=2: both in one stream ([pair]{[channel][64 B], [channel][4 floats]}, 320 B per pair).
static int IL=0;
static void block_il(const unsigned char*wb, const float*sb, float*y){
  V a0=_mm512_setzero_ps(),a1=a0,a2=a0,a3=a0; long ahead=8L*RB;
  long wstep = IL==2 ? 320 : 256;
  for(int p=0;p<NP;p++){ const float*xp=X+160*p;
    const unsigned char* w=wb+wstep*p;
    const float* s0 = IL==2 ? (const float*)(w+256) : sb+16*p; const float*s1=s0+4,*s2=s0+8,*s3=s0+12;
    I d0=_mm512_loadu_si512(w),d1=_mm512_loadu_si512(w+64),d2=_mm512_loadu_si512(w+128),d3=_mm512_loadu_si512(w+192);
    if(PF_ON){_mm_prefetch((const char*)w+ahead,_MM_HINT_T1);_mm_prefetch((const char*)w+ahead+64,_MM_HINT_T1);_mm_prefetch((const char*)w+ahead+128,_MM_HINT_T1);_mm_prefetch((const char*)w+ahead+192,_MM_HINT_T1);
      if(IL==2) _mm_prefetch((const char*)w+ahead+256,_MM_HINT_T1); else _mm_prefetch((const char*)(s0+8L*G),_MM_HINT_T1);} // scales 8 channels (two blocks) ahead
    __asm__("" : "+v"(d0),"+v"(d1),"+v"(d2),"+v"(d3));
    int e0=0,o0=1,e1=2,o1=3;
    PAIR
  }
  y[0]=_mm512_reduce_add_ps(a0);y[1]=_mm512_reduce_add_ps(a1);y[2]=_mm512_reduce_add_ps(a2);y[3]=_mm512_reduce_add_ps(a3);
}
static int HALF=0; static unsigned short* HS;
static inline V h2f(__m256i h){ I b=_mm512_and_si512(_mm512_slli_epi32(_mm512_cvtepi16_epi32(h),13),_mm512_set1_epi32(0x8FFFE000)); return _mm512_mul_ps(_mm512_castsi512_ps(b),_mm512_castsi512_ps(_mm512_set1_epi32(0x77800000))); }
static volatile int LASTV=63; static int CHUNK=0;
__attribute__((noinline)) static void chunk(const unsigned char*w0,const unsigned char*w1,const unsigned char*w2,const unsigned char*w3,const float*s0,const float*s1,const float*s2,const float*s3,int last,long ahead,int p0,int p1,const float*x,V*acc){
  V a0=acc[0],a1=acc[1],a2=acc[2],a3=acc[3];
  for(int p=p0;p<p1;p++){ const float*xp=x+160*p;
    I d0=_mm512_loadu_si512(w0+64*p),d1=_mm512_loadu_si512(w1+64*p),d2=_mm512_loadu_si512(w2+64*p),d3=_mm512_loadu_si512(w3+64*p);
    _mm_prefetch((const char*)w0+ahead+64*(4*p),_MM_HINT_T1);_mm_prefetch((const char*)w0+ahead+64*(4*p+1),_MM_HINT_T1);_mm_prefetch((const char*)w0+ahead+64*(4*p+2),_MM_HINT_T1);_mm_prefetch((const char*)w0+ahead+64*(4*p+3),_MM_HINT_T1);
    __asm__("" : "+v"(d0),"+v"(d1),"+v"(d2),"+v"(d3));
    if((p&3)==0){ long as=8L*(last+1); _mm_prefetch((const char*)(s0+4*p+as),_MM_HINT_T1);_mm_prefetch((const char*)(s1+4*p+as),_MM_HINT_T1);_mm_prefetch((const char*)(s2+4*p+as),_MM_HINT_T1);_mm_prefetch((const char*)(s3+4*p+as),_MM_HINT_T1);}
    int e0=4*p<last?4*p:last,o0=4*p+1<last?4*p+1:last,e1=4*p+2<last?4*p+2:last,o1=4*p+3<last?4*p+3:last;
    PAIR
  }
  acc[0]=a0;acc[1]=a1;acc[2]=a2;acc[3]=a3;
}
static int copy; static float Y[2][40000];
static void* run(void*arg){ long t=(long)arg; unsigned char*w=W+(long)copy*N*(IL==2?RB+4*G:RB); float*s=SC+(long)copy*N*G;
  float scratch[4*G] __attribute__((aligned(64)));
  unsigned short*hs=HS+(long)copy*N*G;
  for(int j=t*N/T;j<(t+1)*N/T;j+=4){
    if(HALF){ const unsigned short*h=hs+(long)j*G; for(int i=0;i<4*G;i+=16) _mm512_store_ps(scratch+i,h2f(_mm256_loadu_si256((const __m256i*)(h+i))));
      for(int b=0;b<4*G*2;b+=64) _mm_prefetch((const char*)(h+8L*G)+b,_MM_HINT_T1);
      block(w+(long)j*RB, scratch, Y[t]+j);}
    else if(CHUNK){ V acc[4]={0}; const unsigned char*w0=w+(long)j*RB; const float*s0=s+(long)j*G; int last=LASTV;
      for(int p0=0;p0<NP;p0+=CHUNK) chunk(w0,w0+RB,w0+2*RB,w0+3*RB,s0,s0+G,s0+2*G,s0+3*G,last,8L*RB,p0,p0+CHUNK<NP?p0+CHUNK:NP,X,acc);
      Y[t][j]=_mm512_reduce_add_ps(acc[0]); }
    else if(IL) block_il(IL==2 ? w+(long)j*(RB+4*G) : w+(long)j*RB, s+(long)j*G, Y[t]+j);
    else block(w+(long)j*RB, s+(long)j*G, Y[t]+j); }
  return 0; }
int main(int argc,char**argv){ COPIES=atoi(argv[1]); PF_ON=atoi(argv[2]); HALF=argc>6; CHUNK=argc>5?atoi(argv[5]):0; N=atoi(argv[3]); T=atoi(argv[4]);
  IL=getenv("IL")?atoi(getenv("IL")):0; W=alloc((long)COPIES*N*(RB+4*G)+65536); if(getenv("MIS")) W+=atoi(getenv("MIS")); SC=alloc((long)COPIES*N*G*4+65536);
  for(long i=0;i<(long)COPIES*N*(RB+4*G);i++) W[i]=rand(); if(IL==2) for(long i=0;i<(long)COPIES*N*(RB+4*G);i+=320) for(int c=256;c<320;c+=4) *(float*)(W+i+c)=0.01f; for(long i=0;i<(long)COPIES*N*G;i++) SC[i]=0.01f; for(int i=0;i<NP*160;i++){ int o=i%160; int j=o<128? o/16 : 0; X[i]= o<128 ? ldexpf(1e-3f*(1+(i%7)),80-4*j) : -8e-3f*ldexpf(1,-69); } HS=aligned_alloc(64,(long)COPIES*N*G*2+65536); for(long i=0;i<(long)COPIES*N*G;i++) HS[i]=0x2000;
  for(int r=0;r<5;r++){ double best=1e9; for(int it=0;it<40;it++){ copy=it%COPIES; double t0=now(); if(T==1) run(0); else { pthread_t a,b; pthread_create(&a,0,run,(void*)0); pthread_create(&b,0,run,(void*)1); pthread_join(a,0); pthread_join(b,0);} double t=now()-t0; if(t<best)best=t; }
    double pairs=(double)N/4*NP; double bytes=(double)N*RB+(double)N*G*(HALF?2:4); printf("copies %d pf %d: %.1f us, %.2f ns/pair/core, %.1f GB/s\n",COPIES,PF_ON,best*1e6,best*T/pairs*1e9,bytes/best/1e9); }
}
